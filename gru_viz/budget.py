"""Memory per training run: a measured estimate from the settings, what the box allows and uses, and giving
freed memory back to the operating system after a run. Figures and method: docs/LOADTEST.md, "Memory per run".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from pathlib import Path

MB = 2**20

# Peak growth of resident memory per position (batch_size × num_steps) and hidden unit, fitted to the runs of
# tools/memtable.py (docs/LOADTEST.md, "Memory per run"; AMD EPYC, torch 2.13), rounded up: autograd keeps about
# 16 floats per position and unit for the textbook code; the fast path's C++ loops 9 (its reused buffers: H, Z|R,
# H~, R*H, dH, dA); its PyTorch fallback about 15 (the backward's whole-sequence slopes on top).
PER_POSITION_HIDDEN = {"textbook": 4 * 17.0, "fast": 4 * 9.0, "fast-torch": 4 * 15.5}
PER_POSITION_VOCAB = 4 * 6.0  # one-hot inputs, logits, softmax and their gradients (vocab ≤ 28 after d2l's cleanup)
PER_TOKEN = 32.0  # the iterators' int64 copies of the token stream (measured 16-22 bytes per token)
COPIES_OF_PARAMS = 6  # model, gradients, the last good epoch, latest_params() copies (fitted: 4.5-6.1, one snapshot)
FIXED = 32 * MB  # the largest gap between the fitted formula and a measured run was 24 MB
MARGIN = 1.15  # on top: several epochs fragment the textbook's heap by up to 3% more than one epoch


def param_count(hidden: int, vocab_size: int) -> int:
    """The 11 tensors of d2l's GRU: three gates of (vocab×h, h×h, h), then h×vocab and vocab."""
    return 3 * (vocab_size * hidden + hidden * hidden + hidden) + hidden * vocab_size + vocab_size


def estimate_run_bytes(hidden: int, batch_size: int, num_steps: int, vocab_size: int, tokens: int,
                       engine: str = "fast", variants: int = 1, snapshots: int = 8, backend: str | None = None) -> int:
    """Peak growth of a process's resident memory while it trains one run with these settings (bytes).

    engine is "textbook" or "fast"; for "fast", backend "torch" means the PyTorch fallback (no C++ kernel) and
    None or "cpp" the compiled loops. A race trains `variants` models one after another: only their parameters
    and snapshots multiply, since minibatch memory is freed (autograd) or reused (fast path) between them.
    """
    if engine not in ("textbook", "fast"):
        raise ValueError(f"engine must be 'textbook' or 'fast', got {engine!r}")
    key = "fast-torch" if engine == "fast" and backend == "torch" else engine
    positions = batch_size * num_steps
    minibatch = positions * (PER_POSITION_HIDDEN[key] * hidden + PER_POSITION_VOCAB * vocab_size)
    params = 4 * param_count(hidden, vocab_size) * max(1, variants) * (COPIES_OF_PARAMS + max(0, snapshots))
    return int(MARGIN * (FIXED + minibatch + params + PER_TOKEN * tokens))


def settings_bytes(config: object, vocab_size: int, tokens: int, variants: int = 1, backend: str | None = None) -> int:
    """`estimate_run_bytes` for any object with hidden, batch_size, num_steps and engine attributes (TrainConfig)."""
    return estimate_run_bytes(getattr(config, "hidden"), getattr(config, "batch_size"),  # noqa: B009
                              getattr(config, "num_steps"), vocab_size, tokens,  # noqa: B009
                              getattr(config, "engine", "fast"), variants, backend=backend)


# --- what the box allows and uses (Linux cgroups v2 and v1) ------------------------------------------------

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


def memory_left(budget_bytes: int | None = None, root: Path | str = "/sys/fs/cgroup",
                proc_cgroup: Path | str = "/proc/self/cgroup") -> int | None:
    """Bytes a new run may still use: the cgroup's limit less its usage; else `budget_bytes` less this process's
    resident memory; None when neither a limit nor a budget is known."""
    limit = box_memory_limit(root, proc_cgroup)
    if limit is not None:
        used = box_memory_usage(root, proc_cgroup)
        return limit - (used if used is not None else process_rss())
    if budget_bytes is not None:
        return budget_bytes - process_rss()
    return None


# --- this process -------------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_rss() -> int:
    """This process's resident memory now (bytes); 0 where /proc is missing."""
    kb = _status_kb("VmRSS")
    return 1024 * kb if kb is not None else 0


def peak_rss() -> int:
    """This process's peak resident memory since it started, or since `reset_peak_rss` (bytes)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS: a fallback only
    return 1024 * kb


def reset_peak_rss() -> bool:
    """Start `peak_rss` afresh from the current resident memory (Linux 4.0+); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def release_memory() -> bool:
    """Hand the heap's free pages back to the OS (glibc's malloc_trim); True when it ran, False elsewhere.

    PyTorch's CPU tensors come from malloc. After a large run glibc keeps the freed pages (its mmap threshold
    has grown past the tensors' size), so the server's RSS stayed gigabytes high until this is called.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(ctypes.c_size_t(0))
    except (OSError, AttributeError):
        return False
    return True
