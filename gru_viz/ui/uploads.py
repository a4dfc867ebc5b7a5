"""A bound on the uploaded bytes Streamlit keeps in memory: per session and per server. Its upload route stores
every PUT in the runtime's MemoryUploadedFileManager, checking only server.maxUploadSize per file; this wraps that
manager in place (the class of the one instance is swapped), so the route and the widgets see the bound."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import PurePosixPath

from starlette.exceptions import HTTPException
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

MAX_CKPT_MB = 16  # server.maxUploadSize in .streamlit/config.toml says the same: the largest file the route takes
MAX_TEXT_BYTES = 2_000_000  # a text the app trains on (larger uploads are refused by the sidebar)
# What one visitor needs at once: the largest checkpoint and a text. Beyond it, the session's own older files go
# (those of the same kind first: a single-file uploader replaces its file, and its DELETE may come after the PUT).
SESSION_UPLOAD_BYTES = MAX_CKPT_MB * 2**20 + MAX_TEXT_BYTES
# All sessions together: eight visitors' worth (145 MB). Past it a new upload is refused, never someone's file
# dropped; on the 1 GB box the server idles at about 450 MB (docs/LOADTEST.md).
SERVER_UPLOAD_BYTES = 8 * SESSION_UPLOAD_BYTES
CHECKED_STREAMLIT = ("1.67", "1.68")  # the versions whose manager this was read against: [first, next) minor
_install_lock = threading.Lock()


class UploadRefused(HTTPException):
    """Raised inside the upload route (an HTTP 413 with the reason as its body)."""

    def __init__(self, reason: str):
        super().__init__(status_code=413, detail=reason)


def _kind(rec: UploadedFileRec) -> str:
    return PurePosixPath(rec.name).suffix.lower()


class BoundedUploadedFileManager(MemoryUploadedFileManager):
    """Streamlit's in-memory manager with SESSION_UPLOAD_BYTES per session (the session's older files evicted to
    make room) and SERVER_UPLOAD_BYTES in all (refused beyond). Same lock, same counters as the base class."""

    session_limit = SESSION_UPLOAD_BYTES
    server_limit = SERVER_UPLOAD_BYTES

    def drop_orphans(self) -> int:
        """Drop the files of sessions the runtime no longer knows. Streamlit removes a session's files when the
        session shuts down, but a closed tab's session is kept for reconnects and then silently expires without
        shutting down, so its files stayed forever (the issue's 559 MB held after the sockets closed). Returns the
        bytes freed. The session manager is asked without this manager's lock held (it calls us under its own)."""
        from streamlit.runtime import Runtime

        sessions = getattr(Runtime.instance(), "_session_mgr", None) if Runtime.exists() else None
        if not callable(getattr(sessions, "get_session_info", None)):
            return 0  # no runtime, or AppTest's stand-in for one
        with self._lock:
            known = list(self.file_storage)
        gone = [sid for sid in known if sessions.get_session_info(sid) is None]
        freed = 0
        with self._lock:
            for sid in gone:
                files = self.file_storage.pop(sid, {})
                freed += sum(len(f.data) for f in files.values())
                self._file_count -= len(files)
            self._total_bytes -= freed
        return freed

    def add_file(self, session_id: str, file: UploadedFileRec) -> None:
        size = len(file.data)
        if size > self.session_limit:
            raise UploadRefused(f"a file of {size:,} bytes is more than one visitor may upload")
        self.drop_orphans()  # before the server-wide check: expired sessions never fill the server's allowance
        with self._lock:
            files = self.file_storage.get(session_id, {})
            replaced = files.get(file.file_id)
            others = [f for f in files.values() if f is not replaced]
            held = sum(len(f.data) for f in others)
            victims = []  # dicts keep insertion order: oldest first, files of the new one's kind before the rest
            for old in sorted(others, key=lambda f: _kind(f) != _kind(file)):
                if held + size <= self.session_limit:
                    break
                victims.append(old)
                held -= len(old.data)
            freed = sum(len(f.data) for f in victims) + (len(replaced.data) if replaced else 0)
            if self._total_bytes - freed + size > self.server_limit:
                raise UploadRefused("this server holds as many uploaded files as it can; try again in a few minutes")
            for old in victims:
                del files[old.file_id]
            self.file_storage[session_id] = files
            files[file.file_id] = file
            self._file_count += (0 if replaced else 1) - len(victims)
            self._total_bytes += size - freed

    def held(self, session_id: str) -> int:
        """The bytes a session holds now."""
        with self._lock:
            return sum(len(f.data) for f in self.file_storage.get(session_id, {}).values())


def bound(mgr: object) -> bool:
    """Swap this manager's class for the bounded one (once; every holder of the instance, the upload route
    included, then sees the bound). False when it is not Streamlit's in-memory manager."""
    with _install_lock:
        if type(mgr) is MemoryUploadedFileManager:
            mgr.__class__ = BoundedUploadedFileManager
    return type(mgr) is BoundedUploadedFileManager


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """streamlit_app.py's `st.App` hook: the bound is on before the server answers its first request (installing
    it at the first page run left a window: a session stopped before its page ran could PUT without it)."""
    from streamlit.runtime import Runtime

    bound(Runtime.instance().uploaded_file_mgr)
    yield


def install() -> bool:
    """At every page run: the bound (already on when the server started through streamlit_app.py's `app`; here
    for AppTest and any other way of running the page) and drop expired sessions' files. False when there is no
    script context or the manager is not Streamlit's in-memory one."""
    mgr = getattr(get_script_run_ctx(), "uploaded_file_mgr", None)
    if not bound(mgr):
        return False
    mgr.drop_orphans()  # every page run, so expired sessions' files go even when no one uploads
    return True
