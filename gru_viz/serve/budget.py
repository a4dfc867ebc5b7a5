"""Memory per training run: a measured estimate from the settings, what is left for it, and giving freed
memory back to the operating system after a run. Figures and method: docs/LOADTEST.md, "Memory per run".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

from gru_viz.serve.memlimit import Memory, read_memory

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
                       engine: str = "fast", variants: int = 1, snapshots: int = 8, loops: str | None = None) -> int:
    """Peak growth of a process's resident memory while it trains one run with these settings (bytes).

    engine is "textbook" or "fast"; for "fast", loops "torch-fm" or "torch-rows" (`gru_viz.fast.LOOPS`) mean the
    PyTorch loops (measured as one row) and None or "cpp" the compiled loops. A race trains `variants` models one
    after another: only their parameters and snapshots multiply, since minibatch memory is freed (autograd) or
    reused (fast path) between them.
    """
    if engine not in ("textbook", "fast"):
        raise ValueError(f"engine must be 'textbook' or 'fast', got {engine!r}")
    key = "fast-torch" if engine == "fast" and str(loops).startswith("torch") else engine
    positions = batch_size * num_steps
    minibatch = positions * (PER_POSITION_HIDDEN[key] * hidden + PER_POSITION_VOCAB * vocab_size)
    params = 4 * param_count(hidden, vocab_size) * max(1, variants) * (COPIES_OF_PARAMS + max(0, snapshots))
    return int(MARGIN * (FIXED + minibatch + params + PER_TOKEN * tokens))


def settings_bytes(config: object, vocab_size: int, tokens: int, variants: int = 1, loops: str | None = None) -> int:
    """`estimate_run_bytes` for any object with hidden, batch_size, num_steps and engine attributes (TrainConfig)."""
    return estimate_run_bytes(getattr(config, "hidden"), getattr(config, "batch_size"),  # noqa: B009
                              getattr(config, "num_steps"), vocab_size, tokens,  # noqa: B009
                              getattr(config, "engine", "fast"), variants, loops=loops)


def memory_left(budget_bytes: int | None = None, memory: Memory | None = None) -> int | None:
    """Bytes a new run may still use: the box's limit less its usage (cgroups, gru_viz.serve.memlimit); else
    `budget_bytes` less this process's resident memory; None when neither a limit nor a budget is known."""
    m = read_memory() if memory is None else memory
    if m.limit is not None:
        return m.limit - (m.usage if m.usage is not None else process_rss())
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
