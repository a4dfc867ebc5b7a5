"""How much memory this process may still take: its cgroup's limit and usage (v1 or v2) and the host's free memory.

Hosts such as Streamlit Community Cloud run an app in a container whose cgroup, not the machine, sets the limit.
The kernel build's headroom check (fast.ext) and the training slots' memory budget (budget) both read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class Memory:
    """Bytes; None where unknown. limit and usage are the tightest cgroup's (usage less reclaimable file cache);
    available is the host's MemAvailable."""

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


_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a page-rounded 2**63-1


def _cgroup_dirs(root: Path, proc_cgroup: Path) -> list[tuple[Path, str]]:
    """(directory, "v1" | "v2") of this process's memory cgroup and its ancestors, innermost first."""
    try:
        lines = proc_cgroup.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    found: list[tuple[Path, str]] = []
    for line in lines:
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":
            kind, mounts = "v2", [root, root / "unified"]
        elif "memory" in controllers.split(","):
            kind, mounts = "v1", [root / "memory"]
        else:
            continue
        for mount in mounts:
            parts = [p for p in path.strip().split("/") if p and p not in (".", "..")]
            # Innermost first; a container that sees the host's path but not its directories gets the mount itself.
            for depth in range(len(parts), -1, -1):
                d = mount.joinpath(*parts[:depth])
                if d.is_dir():
                    found.append((d, kind))
    return found


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 <= value < _UNLIMITED else None


def _limit_of(d: Path, kind: str) -> int | None:
    return _read_int(d / ("memory.max" if kind == "v2" else "memory.limit_in_bytes"))


def box_memory_limit(root: Path | str = "/sys/fs/cgroup", proc_cgroup: Path | str = "/proc/self/cgroup") -> int | None:
    """The tightest memory limit of this process's cgroup or its ancestors (bytes), or None when unlimited."""
    limits = [v for d, kind in _cgroup_dirs(Path(root), Path(proc_cgroup)) if (v := _limit_of(d, kind)) is not None]
    return min(limits) if limits else None


def box_memory_usage(root: Path | str = "/sys/fs/cgroup", proc_cgroup: Path | str = "/proc/self/cgroup") -> int | None:
    """Memory the limiting cgroup uses, less reclaimable file cache (the working set the OOM killer counts), in
    bytes; the innermost memory cgroup when none is limited; None without readable cgroup files."""
    dirs = _cgroup_dirs(Path(root), Path(proc_cgroup))
    limited = [(v, d, kind) for d, kind in dirs if (v := _limit_of(d, kind)) is not None]
    candidates = [(d, kind) for _, d, kind in sorted(limited, key=lambda x: x[0])] + dirs
    for d, kind in candidates:
        usage = _read_int(d / ("memory.current" if kind == "v2" else "memory.usage_in_bytes"))
        if usage is None:
            continue
        inactive = _stat_value(d / "memory.stat", "inactive_file" if kind == "v2" else "total_inactive_file")
        return max(0, usage - (inactive or 0))
    return None


def _stat_value(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    return None


def read_memory(proc_cgroup: Path | str = PROC_CGROUP, root: Path | str = CGROUP_ROOT,
                meminfo: Path | str = MEMINFO) -> Memory:
    """The tightest memory cgroup above this process (its limit and usage) and the host's MemAvailable."""
    available = None
    try:
        for line in Path(meminfo).read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        pass
    return Memory(box_memory_limit(root, proc_cgroup), box_memory_usage(root, proc_cgroup), available)
