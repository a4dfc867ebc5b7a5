"""Class mode's limits per session and per network, which address a client is counted by, and the teachers'
registry under many threads (issue 31, items 3 and 4)."""

from __future__ import annotations

import threading

from gru_viz.serve.ratelimit import LOOPBACK, ClassLimits, Limiter, client_key, trusted_proxies
from gru_viz.serve.teachers import Teachers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_limiter_counts_events_in_its_window_and_forgets_them_after():
    clock = Clock()
    lim = Limiter(3, window=60, clock=clock)
    assert [lim.allow("a") for _ in range(5)] == [True, True, True, False, False]
    assert lim.allow("b") and lim.used("a") == 3  # refused events are not counted
    clock.now += 60
    assert lim.allow("a") and lim.used("a") == 1


def test_a_limiter_keeps_a_bounded_number_of_keys():
    lim = Limiter(1, window=60, max_keys=100, clock=Clock())
    for i in range(10_000):  # a flood of fresh keys
        lim.allow(f"k{i}")
    assert len(lim) == 100


def test_loopback_neighbours_are_distinct_clients_and_ipv6_counts_by_its_64():
    assert client_key("127.0.0.2", {}, []) == "127.0.0.2" != client_key("127.0.0.3", {}, [])
    assert client_key(None, {}, []) == LOOPBACK  # st.context.ip_address is None for 127.0.0.1 and ::1
    assert client_key("2001:db8:1:2::5", {}, []) == client_key("2001:db8:1:2:ffff::9", {}, []) == "2001:db8:1:2::/64"
    assert client_key("::ffff:198.51.100.7", {}, []) == "198.51.100.7"


def test_a_forged_forwarded_for_from_loopback_is_not_believed_by_default():
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 and reports the forged address as the peer; without a
    trusted proxy configured here that address is not believed: the client counts as loopback."""
    assert trusted_proxies("") == []
    for forged in ("203.0.113.1", "203.0.113.1, 198.51.100.2"):
        peer = forged.split(",")[-1].strip()  # what uvicorn made of it
        assert client_key(peer, {"X-Forwarded-For": forged}, []) == LOOPBACK
    # a fresh forged address per request changes nothing: all are one client
    keys = {client_key(f"10.0.{i // 256}.{i % 256}", {"x-forwarded-for": f"10.0.{i // 256}.{i % 256}"}, [])
            for i in range(500)}
    assert keys == {LOOPBACK}
    # a remote client whose header uvicorn ignored keeps its own address
    assert client_key("192.0.2.8", {"X-Forwarded-For": "203.0.113.1"}, []) == "192.0.2.8"


def test_a_configured_proxy_is_believed_and_only_it():
    trusted = trusted_proxies("10.0.0.0/8, 127.0.0.1")
    # the proxy at 10.1.2.3 appended the client it saw; the client's own prefix of the header is not believed
    assert client_key("10.1.2.3", {"X-Forwarded-For": "6.6.6.6, 198.51.100.20"}, trusted) == "198.51.100.20"
    assert client_key("198.51.100.20", {"X-Forwarded-For": "198.51.100.20"}, trusted) == "198.51.100.20"
    # a client that reaches the server directly and forges the header is counted by its own address
    assert client_key("192.0.2.9", {"X-Forwarded-For": "6.6.6.6"}, trusted) == "192.0.2.9"
    assert client_key("192.0.2.9", {"X-Forwarded-For": "6.6.6.6"}, ["*"]) == "6.6.6.6"


def test_fresh_sessions_from_one_address_are_stopped_but_a_classroom_joins():
    """500 "Start a class" from one client, each in a fresh session (a fresh cookie): the address stops them;
    thirty students behind one NAT, each reloading five times, all join; another address is unaffected."""
    limits = ClassLimits(clock=Clock())
    started = sum(limits.may_start(f"session{i}", "198.51.100.9") for i in range(500))
    assert started == 20
    assert limits.may_start("teacher", "192.0.2.1")
    joins = [limits.may_join(f"student{s}-load{r}", "203.0.113.7") for s in range(30) for r in range(5)]
    assert all(joins)
    flood = sum(limits.may_join(f"fake{i}", "198.51.100.9") for i in range(1000))
    assert flood == 300
    assert limits.may_join("genuine", "192.0.2.44")


def test_one_session_is_limited_before_its_address():
    limits = ClassLimits(clock=Clock())
    assert [limits.may_start("s", "192.0.2.1") for _ in range(5)] == [True, True, True, False, False]
    assert limits.start_network.used("192.0.2.1") == 3  # the refused presses did not use up the address's share


def test_teachers_registry_survives_many_teachers_at_once():
    """Issue 31 (4): four teachers pressing "Start a class" together raised "dictionary changed size during
    iteration" in 346 of 520 presses. Sixteen threads, each remembering 200 classes while pruning the others'."""
    teachers = Teachers(max_entries=10_000)
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def teacher(t: int) -> None:
        start.wait()
        try:
            for i in range(200):
                teachers.remember(f"T{t}-{i}", f"browser:{t}", f"tok{t}", alive=lambda c: not c.endswith("-0"))
                if i:  # a "-0" class counts as ended: another thread may already have pruned it
                    assert teachers.owner(f"T{t}-{i}") == (f"browser:{t}", f"tok{t}")
                if i % 7 == 0:
                    teachers.forget(f"T{t}-{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=teacher, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    kept = {f"T{t}-{i}" for t in range(16) for i in range(200) if i % 7} - {f"T{t}-0" for t in range(16)}
    assert all(teachers.owner(c) is not None for c in kept) and len(teachers) == len(kept)


def test_the_teachers_registry_is_bounded():
    teachers = Teachers(max_entries=50)
    for i in range(1000):
        teachers.remember(f"C{i}", "browser:x", "t")
    assert len(teachers) == 50 and teachers.owner("C999") and teachers.owner("C0") is None
