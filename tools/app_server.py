"""The app under `streamlit run` on a free port of 127.0.0.1, healthy or not, stopped with its process group.

One helper for everything that needs the real server (tools/loadtest.py, tools/coldstart.py, tests/e2e): start on a
free port, poll GET /_stcore/health until "ok", stop with SIGTERM then SIGKILL to the whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the only address these tools ever talk to
SHARED_TM = Path(os.environ.get("GRU_VIZ_TIMEMACHINE", ROOT.parent / "shared" / "data" / "timemachine.txt"))


class ServerError(RuntimeError):
    """The server exited or never became healthy; the message ends with the tail of its log."""


def install_timemachine(cache: Path) -> None:
    """The Time Machine into a fresh cache, as `python -m gru_viz fetch --from FILE` installs it (when ../shared
    has it, or $GRU_VIZ_TIMEMACHINE names it; otherwise the app uses its offline text)."""
    if SHARED_TM.is_file():
        subprocess.run([sys.executable, "-m", "gru_viz", "fetch", "--from", str(SHARED_TM)], cwd=ROOT,
                       env=dict(os.environ, GRU_VIZ_CACHE_DIR=str(cache)), check=True, capture_output=True, timeout=120)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def health(url: str) -> str:
    """The body of GET url/_stcore/health ("ok" when the server is up), '' when it does not answer."""
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:  # noqa: S310 (localhost only)
            return r.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def streamlit_command(port: int, options: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`streamlit run streamlit_app.py` headless on HOST:port, no file watcher, no usage statistics; each option
    "section.name=value" becomes --section.name value."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.headless", "true",
           "--server.address", HOST, "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    for opt in options:
        key, _, value = opt.partition("=")
        cmd += [f"--{key}", value]
    return cmd


class AppServer:
    """One server. `wrap` turns the command into another (a cgroup box: tools/box.py's Box.command)."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None, options: list[str] | tuple[str, ...] = (),
                 wrap: Callable[[list[str]], list[str]] | None = None, port: int | None = None):
        self.log_path, self.env, self.options, self.wrap = log_path, env or {}, list(options), wrap
        self.fixed_port, self.port, self.url = port, 0, ""
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.starts = 0

    def start(self, timeout: float = 90.0) -> float:
        """Start and wait until healthy; returns the seconds that took. Raises ServerError."""
        self.port = self.fixed_port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        cmd = streamlit_command(self.port, self.options)
        if self.wrap is not None:
            cmd = self.wrap(cmd)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a" if self.starts else "w", encoding="utf-8") as log:
            log.write(f"=== streamlit run on {self.url}\n")
            log.flush()
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # its own process group: stop() ends it all
        self.starts += 1
        deadline = self.started_at + timeout
        while health(self.url) != "ok":
            if self.proc.poll() is not None:
                raise ServerError(f"streamlit exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"streamlit not healthy after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.25)
        return time.monotonic() - self.started_at

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 10 s; nothing when it has already exited."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.is_file() else ""

    def log_tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]
