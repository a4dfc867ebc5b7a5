"""Sessions whose page closed and never came back: what Streamlit would free at a session's shutdown is freed here,
because a closed tab's session is kept `server.disconnectedSessionTTL` seconds for a reconnect and then forgotten
without ever being shut down (docs/LOADTEST.md, "Memory after sessions close")."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

from gru_viz.serve.budget import release_memory

log = logging.getLogger(__name__)
MAX_PENDING = 1024  # beyond it the oldest are forgotten (Python's own collection still frees them)
# A full collection holds the GIL 0.3-0.7 s with torch loaded (why the app turns Streamlit's own off after each
# run): at most one per this many seconds, and only after a session was freed; the next sweep catches the rest.
COLLECT_EVERY_S = 30.0


class GoneSessions:
    """Closed sessions waiting for their reconnect window to pass: (when its page closed, session id, its state)."""

    def __init__(self, collect_every: float = COLLECT_EVERY_S) -> None:
        self._lock = threading.Lock()
        self._ended: list[tuple[float, str, object]] = []  # oldest first
        self.collect_every = collect_every
        self._collected_at: float | None = None
        self._uncollected = 0  # sessions freed since the last full collection
        self.freed = 0  # sessions freed so far (a count for tests and tools)
        self.collections = 0

    def remember(self, session_id: str, state: object, now: float | None = None) -> None:
        """A session's page closed (Streamlit's on_release): look again once its reconnect window has passed."""
        if not session_id or state is None:
            return
        with self._lock:
            self._ended.append((time.monotonic() if now is None else now, session_id, state))
            del self._ended[:-MAX_PENDING]

    def free_gone(self, ttl: float, knows: Callable[[str], bool] | None, now: float | None = None,
                  release: Callable[[str], None] | None = None) -> int:
        """Free what sessions closed more than `ttl` s ago, that the runtime no longer knows, still hold: their
        state (widget values and the widgets' own copies of them), then `release(session_id)` (the runtime's
        references: media files, download buttons' data, its storage's expired entries), then a full collection
        and the heap's free pages back to the system. Returns how many. A session that came back is let be (its
        next close is remembered anew)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [e for e in self._ended if now - e[0] > ttl]
            self._ended[:] = [e for e in self._ended if now - e[0] <= ttl]
        if knows is None:
            return 0
        gone = [(sid, state) for _, sid, state in due if not knows(sid)]
        for sid, state in gone:
            try:  # Streamlit's internals: should one change, the watchdog (which also stops unseen runs) lives on
                _clear(state)
                if release is not None:
                    release(sid)
            except Exception:  # noqa: BLE001
                log.warning("could not free the state of gone session %s", sid, exc_info=True)
        self.freed += len(gone)
        self._uncollected += len(gone)
        if self._uncollected and (self._collected_at is None or now - self._collected_at >= self.collect_every):
            # What Streamlit's session object held (its script runner, the last messages and the widgets'
            # protobufs) forms cycles that only a full collection frees; the app turns the one after each run off.
            gc.collect()
            self._collected_at, self._uncollected = now, 0
            self.collections += 1
            release_memory()
        elif gone:
            release_memory()
        return len(gone)

    def pending(self) -> int:
        with self._lock:
            return len(self._ended)


# the server's one ledger: pages' on_release add to it, the watchdog thread sweeps it
GONE = GoneSessions()


def _session_manager() -> object | None:
    from streamlit.runtime import Runtime

    return getattr(Runtime.instance(), "_session_mgr", None) if Runtime.exists() else None


def runtime_knows() -> Callable[[str], bool] | None:
    """Whether the running server still has a session (active, or kept for a reconnect); None without one."""
    info = getattr(_session_manager(), "get_session_info", None)
    return None if not callable(info) else (lambda sid: info(sid) is not None)


def release_runtime(session_id: str, runtime: object | None = None) -> None:
    """What AppSession.shutdown would release for a session that never gets it: its media files and download
    buttons' deferred data (Streamlit drops a session's references at the start of its next run, so the last run's
    stay, and the app's `data=lambda: ...` downloads keep the inspected model and trace alive), and the expired
    entries of the reconnect storage, which keep whole sessions until the next disconnect writes to it."""
    if runtime is None:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return
        runtime = Runtime.instance()
    media = getattr(runtime, "media_file_mgr", None)
    if media is not None:
        media.clear_session_refs(session_id)  # both documented safe from any thread
        media.remove_orphaned_files()
    reap_expired(getattr(runtime, "_session_mgr", None))


def reap_expired(session_mgr: object | None) -> int:
    """Drop the expired entries of Streamlit's reconnect storage now (its TTLCache removes them only at a write,
    expire() or a length query); returns how many. Under the manager's own storage lock (the cache is not
    thread-safe). tests/test_gone_sessions.py fails when these internals change."""
    storage = getattr(getattr(session_mgr, "_session_storage", None), "_cache", None)
    lock = getattr(session_mgr, "_storage_lock", None)
    data = getattr(storage, "_data", None)
    if lock is None or data is None or not callable(getattr(storage, "expire", None)):
        return 0
    with lock:
        before = len(data)
        storage.expire()
        return before - len(data)


def _clear(state: object) -> None:
    """Empty a session's state (Streamlit's SafeSessionState around its SessionState), under its own lock, with the
    widgets' metadata: a text area's metadata keeps its value (a 2,000,000-character paste) in its deserializer."""
    inner, lock = getattr(state, "_state", None), getattr(state, "_lock", None)
    if inner is None or lock is None or not callable(getattr(inner, "clear", None)):
        return
    with lock:
        inner.clear()
        metadata = getattr(getattr(inner, "_new_widget_state", None), "widget_metadata", None)
        if isinstance(metadata, dict):
            metadata.clear()
