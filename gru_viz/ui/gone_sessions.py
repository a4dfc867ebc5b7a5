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

_lock = threading.Lock()
_ended: list[tuple[float, str, object]] = []  # (when its page closed, session id, its state), oldest first
MAX_PENDING = 1024  # beyond it the oldest are forgotten (Python's own collection still frees them)


def remember(session_id: str, state: object, now: float | None = None) -> None:
    """A session's page closed (Streamlit's on_release): look again once its reconnect window has passed."""
    if not session_id or state is None:
        return
    with _lock:
        _ended.append((time.monotonic() if now is None else now, session_id, state))
        del _ended[:-MAX_PENDING]


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


def free_gone(ttl: float, knows: Callable[[str], bool] | None, now: float | None = None) -> int:
    """Clear the state of sessions closed more than `ttl` s ago that the runtime no longer knows, and hand the
    freed pages back; returns how many. A session that came back is let be (its next close is remembered anew)."""
    now = time.monotonic() if now is None else now
    with _lock:
        due = [e for e in _ended if now - e[0] > ttl]
        _ended[:] = [e for e in _ended if now - e[0] <= ttl]
    if knows is None:
        return 0
    gone = [state for _, sid, state in due if not knows(sid)]
    for state in gone:
        _clear(state)
    if gone:
        release_memory()
    return len(gone)


def pending() -> int:
    with _lock:
        return len(_ended)
