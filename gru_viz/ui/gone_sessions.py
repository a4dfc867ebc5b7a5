"""Sessions whose page closed and never came back: their state is cleared and its memory handed back.

Streamlit keeps a closed tab's session `server.disconnectedSessionTTL` seconds for a reconnect, then forgets it
without shutting it down; its state (a pasted text's 2,000,000 characters, widget values) then waits as garbage for
Python's next full collection, which this app's `runner.postScriptGC = false` leaves to chance: ten such sessions
held 150 MB (docs/LOADTEST.md). The watchdog clears each one's state once the runtime no longer knows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gru_viz.serve.budget import release_memory

MAX_PENDING = 1024  # beyond it the oldest are forgotten (Python's own collection still frees them)


class GoneSessions:
    """Closed sessions waiting for their reconnect window to pass: (when its page closed, session id, its state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: list[tuple[float, str, object]] = []  # oldest first

    def remember(self, session_id: str, state: object, now: float | None = None) -> None:
        """A session's page closed (Streamlit's on_release): look again once its reconnect window has passed."""
        if not session_id or state is None:
            return
        with self._lock:
            self._ended.append((time.monotonic() if now is None else now, session_id, state))
            del self._ended[:-MAX_PENDING]

    def free_gone(self, ttl: float, knows: Callable[[str], bool] | None, now: float | None = None) -> int:
        """Clear the state of sessions closed more than `ttl` s ago that the runtime no longer knows, and hand the
        freed pages back; returns how many. A session that came back is let be (its next close is remembered anew)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [e for e in self._ended if now - e[0] > ttl]
            self._ended[:] = [e for e in self._ended if now - e[0] <= ttl]
        if knows is None:
            return 0
        gone = [state for _, sid, state in due if not knows(sid)]
        for state in gone:
            _clear(state)
        if gone:
            release_memory()
        return len(gone)

    def pending(self) -> int:
        with self._lock:
            return len(self._ended)


# the server's one ledger: pages' on_release add to it, the watchdog thread sweeps it
GONE = GoneSessions()


def runtime_knows() -> Callable[[str], bool] | None:
    """Whether the running server still has a session (active, or kept for a reconnect); None without one."""
    from streamlit.runtime import Runtime

    sessions = getattr(Runtime.instance(), "_session_mgr", None) if Runtime.exists() else None
    info = getattr(sessions, "get_session_info", None)
    return None if not callable(info) else (lambda sid: info(sid) is not None)


def _clear(state: object) -> None:
    """Empty a session's state (Streamlit's SafeSessionState around its SessionState), under its own lock."""
    inner, lock = getattr(state, "_state", None), getattr(state, "_lock", None)
    if inner is None or lock is None or not callable(getattr(inner, "clear", None)):
        return
    with lock:
        inner.clear()
