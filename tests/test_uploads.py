"""The bound on uploaded bytes (gru_viz.ui.uploads): per session by evicting the session's own older files, per
server by refusing; bytes counted, not time. And the Streamlit internals the wrapper relies on, so a Streamlit
upgrade that changes them fails here rather than silently removing the bound."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from gru_viz.ui import uploads
from gru_viz.ui.uploads import SESSION_UPLOAD_BYTES, BoundedUploadedFileManager, UploadRefused

ROOT = Path(__file__).resolve().parents[1]
CKPT = bytes(uploads.MAX_CKPT_MB * 2**20)  # one object, shared: the manager counts len(), memory stays small
TEXT = bytes(uploads.MAX_TEXT_BYTES)


def _rec(file_id: str, data: bytes, name: str = "m.safetensors") -> UploadedFileRec:
    return UploadedFileRec(file_id=file_id, name=name, type="application/octet-stream", data=data)


def _bounded() -> MemoryUploadedFileManager:
    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    mgr.__class__ = BoundedUploadedFileManager  # what install() does to the runtime's manager
    return mgr


def _counted(mgr) -> tuple[int, int]:
    """The manager's own counters, checked against what it really stores."""
    files = [f for s in mgr.file_storage.values() for f in s.values()]
    assert mgr._total_bytes == sum(len(f.data) for f in files) and mgr._file_count == len(files)
    return mgr._total_bytes, mgr._file_count


def test_streamlit_is_the_version_the_wrapper_was_checked_against():
    lo, hi = uploads.CHECKED_STREAMLIT
    major_minor = tuple(int(x) for x in version("streamlit").split(".")[:2])
    assert tuple(map(int, lo.split("."))) <= major_minor < tuple(map(int, hi.split(".")))
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("streamlit")]
    assert pins and pins[0].startswith(f"streamlit>={lo},<{hi}")
    assert f'"streamlit>={lo},<{hi}"' in (ROOT / "pyproject.toml").read_text()


def test_the_wrapped_streamlit_internals_are_unchanged():
    """What BoundedUploadedFileManager reads and writes, and how the upload route calls it."""
    sig = {name: list(inspect.signature(getattr(MemoryUploadedFileManager, name)).parameters)
           for name in ("__init__", "add_file", "remove_file", "remove_session_files", "get_files")}
    assert sig == {"__init__": ["self", "upload_endpoint"], "add_file": ["self", "session_id", "file"],
                   "remove_file": ["self", "session_id", "file_id"], "remove_session_files": ["self", "session_id"],
                   "get_files": ["self", "session_id", "file_ids"]}
    mgr = MemoryUploadedFileManager("/x")
    assert set(vars(mgr)) >= {"file_storage", "_lock", "_total_bytes", "_file_count"}
    assert UploadedFileRec._fields == ("file_id", "name", "type", "data")
    from streamlit.web.server.starlette import starlette_app, starlette_routes

    route = inspect.getsource(starlette_routes.create_upload_routes)
    assert re.search(r"upload_mgr\.add_file\(\s*session_id=session_id,\s*file=UploadedFileRec\(", route)
    assert "except HTTPException" not in route.split("upload_mgr.add_file(")[1].split("return response")[0]
    # the route holds the runtime's own instance (so swapping its class reaches the route)
    assert "upload_mgr: MemoryUploadedFileManager = runtime.uploaded_file_mgr" in inspect.getsource(starlette_app)
    from streamlit.runtime import Runtime, app_session, websocket_session_manager

    assert "self._uploaded_file_mgr.remove_session_files(self.id)" in inspect.getsource(app_session.AppSession)
    # drop_orphans asks the runtime's session manager whether a session still exists (active or kept to reconnect)
    assert callable(Runtime.exists) and callable(Runtime.instance)
    assert "self._session_mgr = " in inspect.getsource(Runtime.__init__)
    info = inspect.getsource(websocket_session_manager.WebsocketSessionManager.get_session_info)
    assert "get_active_session_info(session_id)" in info and "self._session_storage.get(session_id)" in info


def test_a_session_flooding_checkpoints_holds_at_most_its_allowance():
    mgr = _bounded()
    mgr.add_file("s", _rec("text", TEXT, "corpus.txt"))
    for i in range(40):  # the flood: 16 MB PUTs with new ids
        mgr.add_file("s", _rec(f"c{i}", CKPT))
        held, _ = _counted(mgr)
        assert held <= SESSION_UPLOAD_BYTES
    assert set(mgr.file_storage["s"]) == {"text", "c39"}  # the newest checkpoint, and the text kept
    assert mgr.get_files("s", ["c39"])[0].data is CKPT


def test_other_sessions_files_are_never_evicted_and_the_server_total_is_refused():
    mgr = _bounded()
    n = uploads.SERVER_UPLOAD_BYTES // len(CKPT)
    for i in range(n):
        mgr.add_file(f"s{i}", _rec("c", CKPT))
    with pytest.raises(UploadRefused) as info:
        mgr.add_file("late", _rec("c", CKPT))
    assert info.value.status_code == 413 and "try again" in info.value.detail
    assert _counted(mgr) == (n * len(CKPT), n) and "late" not in mgr.file_storage
    mgr.add_file("s0", _rec("c2", CKPT))  # a session replacing its own file still fits
    assert _counted(mgr) == (n * len(CKPT), n)


def test_memory_returns_when_files_are_removed_or_the_session_ends():
    mgr = _bounded()
    mgr.add_file("a", _rec("1", CKPT))
    mgr.add_file("a", _rec("2", TEXT, "t.txt"))
    mgr.add_file("b", _rec("1", TEXT, "t.txt"))
    mgr.remove_file("a", "2")
    assert _counted(mgr) == (len(CKPT) + len(TEXT), 2)
    mgr.remove_session_files("a")
    mgr.remove_session_files("b")
    assert _counted(mgr) == (0, 0) and not mgr.file_storage


def test_a_file_larger_than_a_visitors_allowance_is_refused_and_nothing_is_evicted():
    mgr = _bounded()
    mgr.add_file("s", _rec("t", TEXT, "t.txt"))
    with pytest.raises(UploadRefused):
        mgr.add_file("s", _rec("big", bytes(SESSION_UPLOAD_BYTES + 1)))
    assert _counted(mgr) == (len(TEXT), 1)


def test_install_swaps_the_running_managers_class_once(monkeypatch):
    mgr = MemoryUploadedFileManager("/x")
    ctx = type("Ctx", (), {"uploaded_file_mgr": mgr})()
    monkeypatch.setattr(uploads, "get_script_run_ctx", lambda: ctx)
    assert uploads.install() and type(mgr) is BoundedUploadedFileManager
    assert uploads.install() and type(mgr) is BoundedUploadedFileManager
    monkeypatch.setattr(uploads, "get_script_run_ctx", lambda: None)
    assert not uploads.install()


def test_streamlit_run_serves_the_apps_st_app_whose_lifespan_bounds_the_manager_before_any_request(monkeypatch):
    """`streamlit run streamlit_app.py` (Community Cloud's command) finds `app` and serves it; its lifespan, run
    once the runtime (and its manager) exists and before uvicorn answers, swaps the manager's class."""
    import asyncio
    import concurrent.futures
    import importlib.util

    import streamlit.runtime
    from streamlit.web.server.app_discovery import discover_asgi_app
    from streamlit.web.server.starlette import starlette_app

    assert discover_asgi_app(ROOT / "streamlit_app.py").import_string == "streamlit_app:app"
    spec = importlib.util.spec_from_file_location("streamlit_app", ROOT / "streamlit_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the server's import: no page drawn, only the app defined
    assert isinstance(module.app, starlette_app.App) and module.app._user_lifespan is uploads.lifespan
    created = inspect.getsource(starlette_app.App._create_runtime)
    assert "uploaded_file_mgr = MemoryUploadedFileManager(" in created  # the manager the lifespan finds
    combined = inspect.getsource(starlette_app.App._combined_lifespan)
    assert combined.index("await self._runtime.start()") < combined.index("self._user_lifespan(self)")
    mgr = MemoryUploadedFileManager("/x")
    runtime = type("Runtime", (), {"uploaded_file_mgr": mgr})()
    monkeypatch.setattr(streamlit.runtime.Runtime, "instance", classmethod(lambda cls: runtime))

    async def serve() -> type:
        async with uploads.lifespan(module.app):
            return type(mgr)

    # a thread of its own: an earlier test in this process may have left an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, serve()).result() is BoundedUploadedFileManager


def test_files_of_sessions_the_runtime_no_longer_knows_are_dropped(monkeypatch):
    """A closed tab's session expires from Streamlit's storage without shutting down: its files used to stay."""
    from streamlit.runtime import Runtime

    live = {"a"}
    sessions = type("Sessions", (), {"get_session_info": lambda self, sid: object() if sid in live else None})()
    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: True))
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: type("R", (), {"_session_mgr": sessions})()))
    mgr = _bounded()
    mgr.add_file("a", _rec("1", TEXT, "t.txt"))
    mgr.add_file("gone", _rec("1", CKPT))
    assert mgr.drop_orphans() == len(CKPT) and _counted(mgr) == (len(TEXT), 1)
    live.add("b")
    for i in range(uploads.SERVER_UPLOAD_BYTES // len(CKPT) + 4):  # sessions that upload, then expire
        live.discard(f"old{i - 1}")
        live.add(f"old{i}")
        mgr.add_file(f"old{i}", _rec("c", CKPT))  # never refused: the expired ones were dropped first
    assert _counted(mgr) == (len(TEXT) + len(CKPT), 2)


def test_the_upload_size_cap_is_the_largest_checkpoint():
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert re.search(rf"^maxUploadSize = {uploads.MAX_CKPT_MB}$", config, re.M)
