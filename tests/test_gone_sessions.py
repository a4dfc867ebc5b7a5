"""Sessions whose page closed and never came back give back what they held (gru_viz.ui.gone_sessions): issue 31's
pastes of 2,000,000 characters stayed after their sockets closed. Counted in sessions, references and entries on
Streamlit's own objects, and in the resident memory of a real server after N sessions close."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.elements.widgets.text_widgets import TextAreaSerde
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.session_manager import SessionInfo
from streamlit.runtime.state.common import WidgetMetadata
from streamlit.runtime.state.safe_session_state import SafeSessionState
from streamlit.runtime.state.session_state import SessionState
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

from gru_viz.ui import gone_sessions

ROOT = Path(__file__).resolve().parents[1]


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
    released = []
    assert ledger.free_gone(10.0, lambda sid: sid == "back", now=100.0, release=released.append) == 1
    assert gone._state.cleared and not back._state.cleared and not recent._state.cleared
    assert released == ["gone"]  # the runtime's references are let go only for a session gone for good
    assert ledger.pending() == 1  # the recent one, looked at again later
    assert ledger.free_gone(10.0, lambda sid: False, now=200.0, release=released.append) == 1 and recent._state.cleared
    assert ledger.pending() == 0 and ledger.freed == 2
    ledger.remember("", _State())  # outside a page run: nothing to remember
    assert ledger.pending() == 0


def _session_with_paste(text: str) -> SafeSessionState:
    """A real Streamlit session state holding a pasted text the way the page's text area does: as the widget's
    value and inside its metadata (the text area's deserializer keeps its default, the paste)."""
    inner = SessionState()
    serde = TextAreaSerde(text)
    wid = "$$ID-0123456789abcdef0123456789abcdef-paste_text"
    inner._set_widget_metadata(WidgetMetadata(wid, serde.deserialize, serde.serialize, "string_value"))
    inner._new_widget_state.set_from_value(wid, text)
    inner["paste"] = text
    return SafeSessionState(inner, lambda: None)


def test_a_failing_release_does_not_stop_the_sweep():
    """The watchdog that sweeps also stops unseen runs: an internal of Streamlit's that changed must not end it."""
    ledger = gone_sessions.GoneSessions()
    ledger.remember("a", _State(), now=0.0)
    ledger.remember("b", _State(), now=0.0)

    def broken(sid):
        raise AttributeError("an internal moved")

    assert ledger.free_gone(1.0, lambda sid: False, now=5.0, release=broken) == 2 and ledger.pending() == 0


def test_a_gone_sessions_pasted_text_is_no_longer_referenced_by_its_state():
    """Before, the state was cleared but the widget's metadata kept the paste (2,000,000 characters a session) until
    Python's next full collection, which the app's postScriptGC=false leaves to chance."""
    text = "".join(chr(0x4E00 + i % 3990) for i in range(200_000))
    alone = sys.getrefcount(text)
    state = _session_with_paste(text)
    assert sys.getrefcount(text) >= alone + 3  # the value, the session key, the deserializer's default
    ledger = gone_sessions.GoneSessions()
    ledger.remember("s1", state, now=0.0)
    assert ledger.free_gone(5.0, lambda sid: False, now=10.0) == 1
    assert sys.getrefcount(text) == alone
    assert state._state._new_widget_state.widget_metadata == {} and len(state._state._new_widget_state) == 0


def test_a_full_collection_follows_freed_sessions_at_most_once_per_interval():
    """Counted in collections (each holds the GIL 0.3-0.7 s): sessions freed between two collections wait for the
    next allowed one, and nothing freed means no collection."""
    ledger = gone_sessions.GoneSessions(collect_every=30.0)
    for i, t in enumerate((0.0, 5.0)):
        ledger.remember(f"s{i}", _State(), now=t)
    ledger.free_gone(1.0, lambda sid: False, now=2.0)  # s0 freed
    assert ledger.collections == 1
    ledger.free_gone(1.0, lambda sid: False, now=10.0)  # s1 freed, 8 s after the last collection
    assert ledger.collections == 1
    ledger.free_gone(1.0, lambda sid: False, now=40.0)  # nothing new, but s1 was not collected yet
    assert ledger.collections == 2
    ledger.free_gone(1.0, lambda sid: False, now=100.0)
    assert ledger.collections == 2 and ledger.freed == 2


def test_expired_sessions_leave_streamlits_reconnect_storage_when_reaped():
    """Streamlit's storage reports an expired session as absent but keeps the whole AppSession until its next
    write (the next tab to close): reap_expired removes it now. Also fails when the internals it uses change."""
    mgr = WebsocketSessionManager(MemorySessionStorage(ttl_seconds=0), SimpleNamespace(), SimpleNamespace(), None)
    for sid in ("a", "b"):
        mgr._session_storage.save(SessionInfo(client=None, session=SimpleNamespace(id=sid)))
    assert mgr.get_session_info("b") is None  # expired: the runtime no longer knows it...
    assert list(mgr._session_storage._cache._data) == ["b"]  # ...yet it is held ("a" went at b's write)
    assert gone_sessions.reap_expired(mgr) == 1
    assert len(mgr._session_storage._cache._data) == 0
    assert gone_sessions.reap_expired(SimpleNamespace()) == 0  # a runtime without that storage: nothing to do


def test_a_gone_sessions_download_data_is_released_with_its_media_references():
    """A download button's deferred data (the app's `data=lambda: ...` keep the model and trace they export) stays
    in Streamlit's media manager until the session shuts down, which an expired session never does."""
    media = MediaFileManager(MemoryMediaFileStorage("/media"))
    model = bytearray(1_000_000)  # what the lambda keeps alive
    media.add_deferred(lambda: bytes(model), "application/octet-stream", "coords")  # outside a run: "dontcare"
    media.remove_orphaned_files()  # what a later page run of another session does: it stays
    assert len(media._deferred_callables) == 1
    gone_sessions.release_runtime("dontcare", SimpleNamespace(media_file_mgr=media, _session_mgr=None))
    assert len(media._deferred_callables) == 0


# --- a real server: N visitors paste 2,000,000 characters each and close their tabs -------------------------------

PASTES = 3
TTL_S = 3  # how long a closed tab's session is kept for a reconnect (120 s by default)
LIVENESS_S = 120  # the watchdog sweeps every 2 s; a page run takes seconds on this loaded machine


@pytest.mark.slow
def test_the_memory_of_closed_sessions_pastes_is_handed_back(tmp_path):
    """Before, about three quarters of what the pastes added stayed resident after their sessions expired
    (382 → 484 → 457 MB with three pastes, docs/LOADTEST.md); now most is handed back. Counted in bytes of
    the server's resident memory; the wait is a liveness timeout."""
    sys.path.insert(0, str(ROOT / "tools"))
    from app_server import AppServer
    from load_visitor import Visitor
    from procs import rss_kb
    from streamlit_client import StreamlitClient

    srv = AppServer(tmp_path / "server.log", env={"GRU_VIZ_CACHE_DIR": str(tmp_path / "cache"),
                                                  "GRU_VIZ_BUILD_EXT": "0"},
                    options=[f"server.disconnectedSessionTTL={TTL_S}"])
    srv.start()
    try:
        first = StreamlitClient(srv.port, timeout=LIVENESS_S)
        first.rerun()  # the app loaded (torch and all) before the baseline
        first.close()
        time.sleep(TTL_S + 4)  # that page's own session gone too
        baseline = rss_kb(srv.proc.pid) * 1024
        text = "".join(chr(0x4E00 + (i * 7919) % 3990) for i in range(2_000_000))
        for _ in range(PASTES):
            v = Visitor(srv.port, LIVENESS_S)
            v.query = "corpus_source=paste&tokens=raw&max_tokens=200000"
            v.rerun()
            v.set_text("paste_text", text)
            assert any("vocabulary of" in t for t in v.texts)  # the corpus was built
            v.close()
        added = rss_kb(srv.proc.pid) * 1024 - baseline
        assert added > PASTES * 10 * 2**20, added  # each paste held tens of MB while its page was open
        deadline, held = time.monotonic() + LIVENESS_S, added
        while time.monotonic() < deadline and held > added / 3:
            time.sleep(2.0)
            held = rss_kb(srv.proc.pid) * 1024 - baseline
        assert held <= added / 3, (held, added)
    finally:
        srv.stop()
