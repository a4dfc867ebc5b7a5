"""What the C++ kernel's builds left in its cache folder: a recorded failure, or the marker of an attempt underway.

The folder is per source, flags, torch and Python (`fast_ext.ext_dir`), so a record holds for exactly that build.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import torch

FAILED_FILE, ATTEMPT_FILE = "failed.json", "attempt.json"


def _write_json(path: Path, data: dict) -> None:
    with contextlib.suppress(OSError):
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


def _start_time(pid: int) -> str | None:
    """When a process started (Linux), so that a reused process id is not taken for the builder still at work."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def mark_attempt(folder: Path) -> None:
    """An attempt starts: this process, and when it started."""
    _write_json(folder / ATTEMPT_FILE, {"pid": os.getpid(), "start": _start_time(os.getpid())})


def record_failure(folder: Path, reason: str) -> None:
    _write_json(folder / FAILED_FILE, {"reason": reason, "torch": torch.__version__,
                                       "when": time.strftime("%Y-%m-%d %H:%M:%S")})


def clear(folder: Path, failure: bool) -> None:
    """Remove the failure record (after a successful build) or the attempt's marker (after any attempt)."""
    with contextlib.suppress(OSError):
        (folder / (FAILED_FILE if failure else ATTEMPT_FILE)).unlink()


def recorded_failure(folder: Path, building_here: bool) -> str | None:
    """Why the build failed, as recorded: a compiler error, or an attempt whose process died midway (out of
    memory: the kernel kills the whole server, leaving only its marker; that is then recorded as the failure).
    building_here: this process is building right now (its own marker is not a dead attempt)."""
    try:
        return str(json.loads((folder / FAILED_FILE).read_text())["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        attempt = json.loads((folder / ATTEMPT_FILE).read_text())
        pid, start = int(attempt["pid"]), attempt.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        alive = building_here  # else a marker left by an earlier life of this process id (a restarted container)
    elif start is not None:
        alive = _start_time(pid) == start
    else:  # no /proc: whether any process has that id
        alive = _pid_exists(pid)
    if alive:
        return None
    reason = "an earlier attempt stopped without finishing (its process was killed, perhaps out of memory)"
    record_failure(folder, reason)
    return reason
