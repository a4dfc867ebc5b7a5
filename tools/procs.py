"""A process tree read from /proc (Linux): its members, their resident memory, CPU time and names. Shared by the
load test, the cold-start check and anything else that measures a server with its children."""

from __future__ import annotations

import os
from pathlib import Path


def tree(pid: int) -> list[int]:
    """A process and all its descendants (children of every thread); processes gone meanwhile are skipped."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def rss_kb(pid: int) -> int:
    """VmRSS of one process in kB (0 when it is gone or a kernel thread)."""
    try:
        return next(int(ln.split()[1]) for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ln.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return 0


def tree_rss_kb(pid: int) -> int:
    """VmRSS of a process and all its descendants, in kB."""
    return sum(rss_kb(p) for p in tree(pid))


def names(pid: int) -> list[str]:
    """The command names (/proc/PID/comm) of a process's descendants."""
    out = []
    for p in tree(pid)[1:]:
        try:
            out.append(Path(f"/proc/{p}/comm").read_text().strip())
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat; NaN when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")
