"""The UI boundary: global read-only caches, the global training limiter, and each visitor's session state."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from gru_viz.checkpoints.checkpoint import Checkpoint, load_checkpoint
from gru_viz.data import OFFLINE_NAME, TM_NAME, Corpus, CorpusError, fetch_timemachine, make_corpus, offline_text
from gru_viz.serve.budget import MB, memory_left
from gru_viz.serve.kept import KeptMemory
from gru_viz.serve.ratelimit import client_key
from gru_viz.serve.slots import TrainingSlots
from gru_viz.serve.worker import TrainingWorker, reap_unseen
from gru_viz.ui import gone_sessions
from gru_viz.ui import page_state as ps

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "pretrained"
RNN_ASSETS = ASSETS.parent / "pretrained_rnn"
RAW_ASSETS = ASSETS.parent / "pretrained_raw"
MAX_TRAINERS = int(os.environ.get("GRU_VIZ_MAX_TRAINERS", "2"))  # concurrent training runs on this server
# A run whose page has not polled it for this long is stopped, even if Streamlit never released the session.
# Long enough for a background tab, whose timers browsers slow to about once a minute.
UNSEEN_GRACE_S = float(os.environ.get("GRU_VIZ_UNSEEN_GRACE", "180"))
# Threads per training run. Under contention (other visitors, other runs) one thread per run was far faster than
# torch's default here: multi-threaded tiny matmuls wait on descheduled threads.
TORCH_THREADS = int(os.environ.get("GRU_VIZ_TORCH_THREADS", "1"))
# Training seconds per run before it is stopped (Resume queues it again), so a few long runs cannot hold the
# slots for hours: d2l's 500 epochs take about 35-60 s here; the largest in-cap run about 9 s per epoch.
# 0 turns the limit off (a private server).
RUN_SECONDS = float(os.environ.get("GRU_VIZ_RUN_SECONDS", "900")) or None
# Memory for the whole app where no cgroup limit says otherwise (Community Cloud gives an app up to 2.7 GB), and
# what to keep free for visitors' pages (traces, caches: a class of 30 added about 200 MB in the load test).
MEMORY_BUDGET_MB = float(os.environ.get("GRU_VIZ_MEMORY_BUDGET_MB", "2700"))
PAGES_RESERVE_MB = float(os.environ.get("GRU_VIZ_PAGES_RESERVE_MB", "300"))
# What one visitor's ended runs may keep (models, last-good copies, snapshots: serve.kept.kept_run_bytes); the
# oldest beyond it is dropped. A run of d2l's settings keeps about 5 MB; one of hidden 512 on 4,000 characters 170 MB.
KEPT_PER_VISITOR_MB = float(os.environ.get("GRU_VIZ_KEPT_PER_VISITOR_MB", "300"))


# --- shared by every visitor: read-only data and the server-wide limits ---------------------


@st.cache_resource(show_spinner=False, ttl=600)
def timemachine() -> tuple[Corpus | None, str]:
    """(corpus, error message); cached with a TTL so an offline server retries now and then, not every rerun."""
    try:
        return make_corpus(fetch_timemachine(timeout=8), TM_NAME, max_tokens=0), ""
    except CorpusError as exc:
        return None, str(exc)


@st.cache_resource(show_spinner=False)
def offline_corpus() -> Corpus:
    return make_corpus(offline_text(), OFFLINE_NAME, max_tokens=0)


def _bundled(folder: Path) -> dict[int, Checkpoint]:
    """A folder of bundled snapshots (epoch_NNNN.safetensors) by epoch; read-only (inference never mutates a
    model), so sharing them between visitors is safe."""
    out = {}
    for path in sorted(folder.glob("epoch_*.safetensors")):
        ckpt = load_checkpoint(path)
        ckpt.model.requires_grad_(False)
        out[int(path.stem.split("_")[1])] = ckpt
    return out


@st.cache_resource(show_spinner=False)
def pretrained() -> dict[int, Checkpoint]:
    """d2l's run of the GRU, by epoch."""
    return _bundled(ASSETS)


@st.cache_resource(show_spinner=False)
def pretrained_raw() -> dict[int, Checkpoint]:
    """A GRU on the Python documentation with every character kept (raw-character mode), by epoch."""
    return _bundled(RAW_ASSETS)


@st.cache_resource(show_spinner=False)
def pretrained_rnn() -> dict[int, Checkpoint]:
    """The plain RNN trained with d2l's recipe (the previous chapter's rnn_scratch), by epoch (0: initialised)."""
    return _bundled(RNN_ASSETS)


@st.cache_resource
def fast_kernel_build() -> None:
    """Compile the fast path's C++ kernel once per server, in a background thread: the page never waits for it
    (the PyTorch fallback, with the same results, runs until it is ready, or for good without a compiler)."""
    if os.environ.get("GRU_VIZ_BUILD_EXT", "1") == "0":  # tests: no compiler running beside them
        return
    from gru_viz.fast import start_background_build

    start_background_build()


@st.cache_resource
def training_slots() -> TrainingSlots:
    """The server's slots, with the memory that training may take: what the box (its cgroup limit, else
    GRU_VIZ_MEMORY_BUDGET) has left when the server starts, less a reserve for the visitors' pages."""
    left = memory_left(int(MEMORY_BUDGET_MB * MB))
    budget = None if left is None else max(0, left - int(PAGES_RESERVE_MB * MB))
    # ended runs may keep up to half of it; the rest is dropped oldest first, and more whenever a new run needs it
    kept = KeptMemory(None if budget is None else budget // 2, int(KEPT_PER_VISITOR_MB * MB))
    return TrainingSlots(MAX_TRAINERS, budget, kept=kept)


@st.cache_resource
def _watchdog() -> threading.Thread:
    """The safety net behind on_release: stops runs whose page has not been seen for UNSEEN_GRACE_S; clears the
    state of sessions gone for good (gone_sessions)."""

    ttl = float(st.get_option("server.disconnectedSessionTTL"))

    def loop() -> None:
        while True:
            reap_unseen(UNSEEN_GRACE_S)
            gone_sessions.GONE.free_gone(ttl, gone_sessions.runtime_knows(), release=gone_sessions.release_runtime)
            time.sleep(2.0)

    thread = threading.Thread(target=loop, name="gru-unseen-watchdog", daemon=True)
    thread.start()
    return thread


# --- one visitor's session ------------------------------------------------------------------


@dataclass
class SessionGuard:
    """Lives in a session-scoped cache: Streamlit releases it when the browser session ends."""

    runs: list
    texts: list = field(default_factory=list)  # its own text, upload and results (ui.own_text, ui.session_kept)
    session_id: str = ""
    state: object = None  # the session's state, cleared once the session is gone for good (gone_sessions)


def _on_session_end(guard: SessionGuard) -> None:
    """The browser session ended: stop its runs now and give back what they and its own text keep."""
    for w in guard.runs:
        w.stop()
        if w.limiter is not None and w.limiter.kept is not None:  # no Streamlit call here: it runs outside a page
            w.limiter.kept.remove(w)
        w.drop("session_ended")
    for text in guard.texts:
        text.forget("session_ended")
    gone_sessions.GONE.remember(guard.session_id, guard.state)


def session_keeps(text: object) -> None:
    """What the session keeps (its own text, its upload, its results: objects with `forget(reason)` and `dropped`),
    given back when the session ends."""
    guard = _session_guard()
    guard.texts = [t for t in guard.texts if not getattr(t, "dropped", "") and t is not text] + [text]


@st.cache_resource(scope="session", on_release=_on_session_end, show_spinner=False)
def _session_guard() -> SessionGuard:
    return SessionGuard(runs=[])


def init_session() -> None:
    """Default session state, and re-adoption of this session's runs after a reconnect."""
    _watchdog()
    fast_kernel_build()
    guard = _session_guard()
    guard.runs = runs()  # a new guard after a reconnect takes over the same runs, and the same text
    guard.session_id, guard.state = ps.session_handle()
    held = ps.get("_own_corpus")
    if held is not None and held not in guard.texts:
        guard.texts.append(held)
    now = time.monotonic()
    for w in runs():
        w.last_seen = now


def browser_token(xsrf_cookie: str) -> str | None:
    """An id of the browser from Streamlit's XSRF cookie, or None.

    The cookie is set once per browser and sent by all its tabs, but arrives masked anew each time (tornado's
    format 2|mask|masked token|time), so the token is unmasked before hashing.
    """
    parts = xsrf_cookie.split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        return None
    if not mask or not masked:
        return None
    token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
    return hashlib.sha256(token + parts[3].encode()).hexdigest()[:24]


def visitor_id() -> str:
    """The browser this session runs in: one active run per visitor, one vote per student, and a teacher's class
    back after a reload. Not a login: whoever holds that browser's cookie counts as it. Without the cookie (tests,
    XSRF protection off) each session counts as its own visitor."""
    if ps.get("_visitor") is None:
        token = browser_token(str((st.context.cookies or {}).get("_streamlit_xsrf", "")))
        ps.put("_visitor", f"browser:{token}" if token else f"session:{secrets.token_hex(8)}")
    return str(ps.get("_visitor"))


def client_network() -> str:
    """The network this page's client is counted by (gru_viz.serve.ratelimit.client_key; docs/DEPLOY.md)."""
    try:
        headers = {k: v for k, v in st.context.headers.items() if isinstance(k, str) and isinstance(v, str)}
        peer = st.context.ip_address
    except Exception:  # noqa: BLE001 (no request context: a test run; counted as one local client)
        headers, peer = {}, None
    return client_key(peer if isinstance(peer, str) else None, headers)


def visitor_run(visitor: str) -> TrainingWorker | None:
    """The visitor's active run in any of their sessions (another tab of the same browser)."""
    from gru_viz.serve.worker import ALL_WORKERS

    return next((w for w in list(ALL_WORKERS) if w.visitor == visitor and w.progress().active), None)


def runs() -> list[TrainingWorker]:
    return ps.get("runs")  # type: ignore[return-value]


def active_run() -> TrainingWorker | None:
    for w in reversed(runs()):
        if w.progress().active:
            return w
    return None


@st.cache_resource
def _shared_results() -> tuple[threading.Lock, dict[str, OrderedDict], dict[tuple, threading.Lock]]:
    """(lock, caches by name, one lock per result being computed)."""
    return threading.Lock(), {}, {}


def cached(name: str, key: tuple, compute, shared: bool = False, size: int = 8):
    """A small LRU of results (traces, perplexities, continuations).

    `shared`: results of the bundled models (read-only, the same for everyone) are kept for all visitors, which
    spares a class of 30 the same 30 computations; results of a visitor's own models stay in that visitor's
    session.
    """
    if not shared:  # counted with what the visitor keeps (ui.session_kept): dropped first when room is needed
        results = ps.get("_lru")
        value, changed = results.get(name, key, compute, size)  # type: ignore[union-attr]
        if changed:
            results.kept = kept = training_slots().kept  # type: ignore[union-attr]
            if kept is not None:
                kept.add(results, visitor_id(), results.nbytes, results.drop, cheap=True)  # type: ignore[union-attr]
            session_keeps(results)
        return value
    lock, caches, computing = _shared_results()
    with lock:
        cache = caches.setdefault(name, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        flight = computing.setdefault((name, key), threading.Lock())
    # One visitor computes; the others who asked for the same result meanwhile wait for it rather than all
    # computing it at once (a class pressing the same preset together would otherwise share the CPU 30 ways).
    with flight:
        with lock:
            if key in cache:
                return cache[key]
        # Should this raise, the flight stays registered: whoever asks next waits on the same lock and tries
        # again, one at a time, rather than beside visitors who started waiting earlier.
        value = compute()
        with lock:  # stored and unregistered at once, so no one can miss both
            cache[key] = value
            while len(cache) > size * 4:
                cache.popitem(last=False)
            computing.pop((name, key), None)
    return value
