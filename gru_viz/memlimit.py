"""How much memory this process may still take: its cgroup's limit and usage (v1 or v2) and the host's free memory.

Hosts such as Streamlit Community Cloud run an app in a container whose cgroup, not the machine, sets the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
MEMINFO = Path("/proc/meminfo")
# cgroup v1 writes "no limit" as a page-rounded 2^63 - 1; anything above 2^60 bytes is no limit
NO_LIMIT = 1 << 60


@dataclass(frozen=True)
class Memory:
    """Bytes; None where unknown. limit and usage are the tightest cgroup's; available is the host's MemAvailable."""

    limit: int | None
    usage: int | None
    available: int | None

    @property
    def headroom(self) -> int | None:
        """What can still be allocated before the tightest of the cgroup's limit and the host's free memory."""
        room = [x for x in (self.available,
                            None if self.limit is None or self.usage is None else self.limit - self.usage)
                if x is not None]
        return min(room) if room else None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= NO_LIMIT else value


def _groups(proc_cgroup: Path, root: Path) -> list[tuple[Path, str, str]]:
    """(folder, limit file, usage file) of this process's memory cgroup and its ancestors, v1 and v2."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if "memory" in controllers.split(","):
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        elif controllers == "":  # v2: one unified hierarchy, at the root or (hybrid) under unified/
            base = root if (root / "cgroup.controllers").is_file() else root / "unified"
            files = ("memory.max", "memory.current")
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            found.append((folder, *files))
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return found


def read_memory(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT, meminfo: Path = MEMINFO) -> Memory:
    """The tightest memory cgroup above this process (its limit and usage) and the host's MemAvailable."""
    best: tuple[int, int] | None = None
    for folder, limit_file, usage_file in _groups(proc_cgroup, root):
        limit, usage = _read_int(folder / limit_file), _read_int(folder / usage_file)
        if limit is not None and usage is not None and (best is None or limit - usage < best[0] - best[1]):
            best = (limit, usage)
    available = None
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return Memory(best[0] if best else None, best[1] if best else None, available)
