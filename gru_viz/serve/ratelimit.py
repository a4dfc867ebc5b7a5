"""Rate limits per client: sliding-window counters keyed by session and by network address, and which address a
request comes from (the trusted source is a setting: docs/DEPLOY.md, "Which address is a client's").

Plain Python, thread-safe, bounded in memory; the clock is injected so tests count events, not seconds.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

LOOPBACK = "loopback"  # every client this server cannot tell apart from itself (127.0.0.1, ::1, or a forged header)


class Limiter:
    """At most `limit` events per key in any `window` seconds. Keeps at most `max_keys` keys (the least recently
    used go first: a flood of fresh keys cannot grow memory without bound)."""

    def __init__(self, limit: int, window: float, max_keys: int = 20_000,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        self._events.move_to_end(key)
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def allow(self, key: str) -> bool:
        """Count one event for `key` and say whether it is within the limit (a refused event is not counted)."""
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def used(self, key: str) -> int:
        with self._lock:
            return len(self._recent(key, self.clock())) if key in self._events else 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


def allow_all(*checks: tuple[Limiter, str]) -> bool:
    """Each (limiter, key) in turn, per session first: a later limiter is not charged when an earlier one refuses."""
    return all(limiter.allow(key) for limiter, key in checks)


# --- which address a request comes from -----------------------------------------------------------------------


def trusted_proxies(setting: str | None = None) -> list[str]:
    """GRU_VIZ_TRUSTED_PROXY: the proxies whose X-Forwarded-For is believed, as addresses or networks
    ("10.0.0.0/8,127.0.0.1"), or "*" for any peer (a host that is reachable only through its proxy).
    Empty (the default): the header is believed from nowhere."""
    text = os.environ.get("GRU_VIZ_TRUSTED_PROXY", "") if setting is None else setting
    return [p.strip() for p in text.split(",") if p.strip()]


def _in(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        if net == "*":
            return True
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def _forwarded(headers: dict[str, str]) -> list[str]:
    raw = next((v for k, v in headers.items() if k.lower() == "x-forwarded-for"), "")
    return [h.strip() for h in raw.split(",") if h.strip()][:64]


def client_key(peer: str | None, headers: dict[str, str], trusted: list[str] | None = None) -> str:
    """The network a client is counted by: its IPv4 address, its IPv6 /64 (one subscriber's prefix), or LOOPBACK.

    `peer` is what the web server reports (Streamlit's `st.context.ip_address`: None for 127.0.0.1 and ::1).
    Streamlit serves through uvicorn, which already replaced the peer by X-Forwarded-For when the real peer was
    loopback; so when the header is not trusted here and the reported peer is one of its entries, the real peer
    was loopback and the address in the header is not believed.
    """
    trusted = trusted_proxies() if trusted is None else trusted
    hops = _forwarded(headers)
    if trusted and hops and (peer is None or peer in hops or _in(peer, trusted)):
        # the rightmost entry not itself a trusted proxy is the client the nearest trusted proxy saw ("*": the
        # rightmost, which the nearest proxy appended; what a client wrote to its left is never believed)
        for hop in reversed(hops if "*" not in trusted else hops[-1:]):
            if "*" in trusted:
                return _network(hop)
            if not _in(hop, trusted):
                return _network(hop)
    elif hops and peer in hops:
        return LOOPBACK
    return _network(peer) if peer else LOOPBACK


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return "bad:" + address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is None:
            return LOOPBACK if ip.is_loopback else str(ipaddress.ip_network(f"{ip}/64", strict=False))
        ip = ip.ipv4_mapped
    # 127.0.0.1 is this server (or a proxy on it); the rest of 127/8 stays distinct: local test clients bind to it
    return LOOPBACK if str(ip) == "127.0.0.1" else str(ip)


class ClassLimits:
    """Class mode's limits: starting a class and joining one, per session first and per network (client_key) as
    a generous second line, since a fresh cookie makes a fresh session but not a fresh address. A join is a
    session entering a class it was not in; a classroom of thirty reloading their pages is far inside these."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = 600.0,
                 starts_per_session: int = 3, starts_per_network: int = 20,
                 joins_per_session: int = 20, joins_per_network: int = 300):
        self.start_session = Limiter(starts_per_session, window, clock=clock)
        self.start_network = Limiter(starts_per_network, window, clock=clock)
        self.join_session = Limiter(joins_per_session, window, clock=clock)
        self.join_network = Limiter(joins_per_network, window, clock=clock)

    def may_start(self, session: str, network: str) -> bool:
        return allow_all((self.start_session, session), (self.start_network, network))

    def may_join(self, session: str, network: str) -> bool:
        return allow_all((self.join_session, session), (self.join_network, network))
