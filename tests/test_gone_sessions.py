"""Sessions whose page closed and never came back have their state cleared and its memory handed back
(gru_viz.ui.gone_sessions): issue 31's pastes of 2,000,000 characters stayed after their sockets closed. Counted in
sessions. (What it gives back on a real server varied, docs/LOADTEST.md: no resident-memory test yet.)"""

from __future__ import annotations

import threading

from gru_viz.ui import gone_sessions


class _State:
    """Streamlit's SafeSessionState as gone_sessions sees it: an inner state with clear(), and a lock."""

    def __init__(self):
        self._lock = threading.RLock()
        self._state = type("Inner", (), {"clear": lambda inner: setattr(inner, "cleared", True), "cleared": False})()


def test_only_sessions_gone_past_the_reconnect_window_are_cleared():
    # a ledger of its own: the server's (GONE) is swept by the watchdog thread an earlier AppTest started
    ledger = gone_sessions.GoneSessions()
    back, gone, recent = _State(), _State(), _State()
    ledger.remember("back", back, now=0.0)  # reconnected: the runtime knows it again
    ledger.remember("gone", gone, now=0.0)
    ledger.remember("recent", recent, now=95.0)
    assert ledger.free_gone(10.0, lambda sid: sid == "back", now=100.0) == 1
    assert gone._state.cleared and not back._state.cleared and not recent._state.cleared
    assert ledger.pending() == 1  # the recent one, looked at again later
    assert ledger.free_gone(10.0, lambda sid: False, now=200.0) == 1 and recent._state.cleared
    assert ledger.pending() == 0
    ledger.remember("", _State())  # outside a page run: nothing to remember
    assert ledger.pending() == 0
