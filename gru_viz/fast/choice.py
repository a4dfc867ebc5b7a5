"""The one place that decides which loops the fast path trains with: measured here, at the run's shapes.

`choose_loops` times a few steps of every candidate (`calibrate`) on first use, caches the timings per CPU model and
shapes, and keeps the current loops unless another set is clearly faster; while nothing is measured, DEFAULT_ORDER.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from gru_viz.data import cache_dir

# The named sets of loops. "textbook" is d2l's autograd step (train.textbook_step), a candidate off the CPU.
LOOPS = ("torch-fm", "cpp", "torch-rows", "textbook")
# While a machine has measured nothing for a run's shapes: the first of these that can run (the order of the grid
# in docs/BENCHMARKS.md at d2l's shapes on the machines measured: feature-major, then the kernel, then row-major).
DEFAULT_ORDER = ("torch-fm", "cpp", "torch-rows", "textbook")
# Another set replaces the current one only when it is at least this much faster, so near-ties do not flip.
MARGIN = 0.05
# The calibration's time limit, all candidates together (a few steps each; the first run at new shapes pays it).
CALIBRATION_BUDGET_S = 3.0
CALIBRATION_STEPS = 3  # timed steps per candidate and round, after one untimed warm-up step
CALIBRATION_ROUNDS = 3  # candidates alternate round by round, so a burst of load hits them all alike
# The one switch of the choice (README): "cpp", "torch-fm", "torch-rows", "textbook", or "torch" (either PyTorch
# set). The others change how a set runs, not which: GRU_VIZ_ONEDNN=0 and GRU_VIZ_TORCHSCRIPT=0 (torch_rows), and
# whether the kernel is built: GRU_VIZ_BUILD_EXT=0 (ext).
OVERRIDE_ENV = "GRU_VIZ_FAST_BACKEND"
# Timings taken while the machine was busy (more runnable threads than cores: a class training at once, a build)
# can rank the sets wrongly, since the sets suffer unequally from sharing caches and cores; they are kept (a figure
# beats none) but taken again at the next run's start once the load is down to QUIET per core.
BUSY, QUIET = 1.0, 0.5


class LoopChoice(NamedTuple):
    """The loops a run trains with and why, in English; `code` and `timings` let the page say it in its language."""

    loops: str
    reason: str
    code: str = "default"  # measured, default, forced, only
    timings: tuple[tuple[str, float], ...] = ()  # (loops, ms a step) measured here, fastest first


@dataclass(frozen=True)
class Shapes:
    """What a choice depends on besides the machine."""

    device: str
    dtype: str
    vocab: int
    batch: int
    hidden: int
    threads: int
    steps: int = 35

    def key(self) -> str:
        from gru_viz.fast.ext import module_name  # the kernel's version: a new build is timed anew

        return (f"{self.device}|{self.dtype}|V{self.vocab}|B{self.batch}|h{self.hidden}|T{self.steps}|"
                f"t{self.threads}|torch {torch.__version__}|{module_name()}")


def load_per_core() -> float:
    """The 1-minute load average per core (0.0 where the OS does not say)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


LOAD: Callable[[], float] = load_per_core  # how busy the machine is now (tests inject it)


def cpu_model() -> str:
    """The CPU's model name (lscpu's), which the cached timings are kept under."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def why_not(loops: str, shapes: Shapes, strength: float = 1.0) -> str | None:
    """Why a set of loops cannot train these shapes here, or None when it can."""
    from gru_viz.fast import ext, torch_fm, torch_rows

    cpu, f32 = shapes.device == "cpu", shapes.dtype == "float32"
    if loops == "cpp":
        if not cpu or shapes.dtype not in ("float32", "float64"):
            return "the C++ kernel takes CPU float32 or float64 tensors"
        if strength < 1.0:
            return "the C++ kernel forces gates fully (strength 1) only"
        if ext.load_extension() is None:
            return "the C++ kernel is not built"
    elif loops == "torch-fm":
        if not (cpu and f32 and torch_rows.onednn_available()):
            return "the feature-major loops need oneDNN's float32 CPU kernels"
        if shapes.vocab > torch_fm.MAX_VOCAB:
            return f"the feature-major loops take vocabularies up to {torch_fm.MAX_VOCAB}"
        if shapes.batch < torch_rows.ONEDNN_MIN_ROWS:
            return f"the feature-major loops take batches of {torch_rows.ONEDNN_MIN_ROWS} or more"
    elif loops == "textbook":
        if cpu and os.environ.get(OVERRIDE_ENV, "").strip() != "textbook":
            return ("on CPU the textbook's autograd step was the slowest set in 21 of the grid's 24 cells and never "
                    "faster by more than 1% (docs/BENCHMARKS.md): not worth timing")
    elif loops not in LOOPS:
        raise ValueError(f"loops must be one of {', '.join(LOOPS)}, got {loops!r}")
    return None


def candidates(shapes: Shapes, strength: float = 1.0) -> list[str]:
    return [name for name in LOOPS if why_not(name, shapes, strength) is None]


# --- the cache: timings per CPU model, then per shapes --------------------------------------------------------


def cache_file() -> Path:
    digest = hashlib.sha256(cpu_model().encode()).hexdigest()[:12]
    return cache_dir() / "loops" / f"{digest}.json"


def _read() -> dict:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached(shapes: Shapes) -> dict:
    """{"ms": {loops: ms a step}, "chosen": loops} measured here for these shapes, or {}."""
    entry = _read().get(shapes.key(), {})
    return entry if isinstance(entry, dict) else {}


def store(shapes: Shapes, ms: dict[str, float], chosen: str, load: float = 0.0) -> None:
    """Keep the timings, the choice and the load per core they were taken under (a cache that cannot be written
    only means measuring again)."""
    with contextlib.suppress(OSError):
        data = _read()
        data[shapes.key()] = {"ms": ms, "chosen": chosen, "cpu": cpu_model(), "when": time.strftime("%Y-%m-%d %H:%M"),
                              "load": round(load, 2)}
        path = cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.part")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)


# --- measuring -------------------------------------------------------------------------------------------------

Measure = Callable[[str, int], float]  # (loops, steps) -> seconds those steps took
# How to time steps at some shapes: step.step_timer, set by gru_viz/fast/step.py when it is imported (it imports
# this module, so this one cannot import it). Unset, nothing is calibrated: the cache or DEFAULT_ORDER decides.
TIMER: Callable[[Shapes], Measure] | None = None


def calibrate(names: Iterable[str], measure: Measure, budget_s: float = CALIBRATION_BUDGET_S) -> dict[str, float]:
    """Milliseconds a step for each set of loops: one warm-up step each (TorchScript compiles, buffers fill), then
    rounds of CALIBRATION_STEPS steps of each, alternating, the median round counted. The warm-ups and the first
    round always run (every set needs a figure); the other rounds, up to CALIBRATION_ROUNDS, only while the time
    measured is under `budget_s` (so a round may overrun it by one measurement)."""
    names = list(names)
    spent = 0.0
    rounds: dict[str, list[float]] = {n: [] for n in names}
    for n in names:
        spent += measure(n, 1)
    for i in range(CALIBRATION_ROUNDS):
        for n in names:
            if i > 0 and spent >= budget_s:
                break
            seconds = measure(n, CALIBRATION_STEPS)
            spent += seconds
            rounds[n].append(seconds * 1e3 / CALIBRATION_STEPS)
    return {n: statistics.median(r) for n, r in rounds.items()}


# --- the decision ------------------------------------------------------------------------------------------------


def _override(available: list[str]) -> tuple[list[str], str]:
    """GRU_VIZ_FAST_BACKEND, where set: a name from LOOPS, or "torch" for the PyTorch loops (either set, measured).
    Returns the candidates it leaves and the variable's text; a set that cannot run here leaves them as they are."""
    wanted = os.environ.get(OVERRIDE_ENV, "").strip()
    allowed = [n for n in available if n == wanted or (wanted == "torch" and n.startswith("torch-"))]
    return (allowed, wanted) if allowed else (available, "")


def decide(available: list[str], ms: dict[str, float], current: str | None) -> tuple[str, str]:
    """(loops, code) from measured milliseconds a step: the fastest, unless the current set (if it can run and was
    measured) is within MARGIN of it. Without timings, the first of DEFAULT_ORDER that can run."""
    timed = {n: ms[n] for n in available if n in ms}
    if len(available) == 1:
        return available[0], "only"
    if not timed:
        return next(n for n in DEFAULT_ORDER if n in available), "default"
    best = min(timed, key=timed.get)
    if current in timed and timed[best] > (1 - MARGIN) * timed[current]:
        return current, "measured"
    return best, "measured"


def choose_loops(device: str | torch.device, dtype: torch.dtype | str, vocab: int, batch: int, hidden: int,
                 threads: int | None = None, steps: int = 35, strength: float = 1.0, current: str | None = None,
                 measure: Measure | None = None, calibrate_now: bool = True,
                 budget_s: float = CALIBRATION_BUDGET_S) -> LoopChoice:
    """The loops a fast-path run of these shapes trains with, and why.

    strength: the weakest forcing strength of the run (loops that cannot blend are left out below 1). current:
    the loops now in use, kept unless another set is clearly faster. measure: how to time steps (tests inject
    timings; default TIMER, `step.step_timer`); calibrate_now=False only reads the cache (the page, which must not
    block)."""
    shapes = Shapes(torch.device(device).type, str(dtype).removeprefix("torch."), int(vocab), int(batch),
                    int(hidden), int(threads or torch.get_num_threads()), int(steps))
    available, forced = _override(candidates(shapes, strength))
    memo_key = (shapes, tuple(available), current, calibrate_now)
    if measure is None and memo_key in _memo:  # the page asks at every rerun: the file is read once per process
        made, busy = _memo[memo_key]
        if not (busy and calibrate_now and LOAD() <= QUIET):  # busy figures are looked at again at a run's start
            return made
    entry = cached(shapes)
    ms = {n: float(v) for n, v in entry.get("ms", {}).items() if n in LOOPS}
    current = current if current in available else entry.get("chosen")
    # a new set (the kernel just built) is timed beside the others now, not against old figures; figures taken on a
    # busy machine are taken again once it is quiet (at a run's start: a running run keeps its loops, trainer.py)
    taken_load = _load_of(entry)
    retime = any(n not in ms for n in available) or (taken_load >= BUSY and LOAD() <= QUIET)
    if calibrate_now and (measure or TIMER) and len(available) > 1 and retime:
        ms = calibrate(available, measure or TIMER(shapes), budget_s)
        loops, code = decide(available, ms, current)
        taken_load = LOAD()
        store(shapes, ms, loops, taken_load)
    else:
        loops, code = decide(available, ms, current)
    timings = tuple(sorted(((n, ms[n]) for n in available if n in ms), key=lambda kv: kv[1]))
    if forced:
        code = "forced"
    made = LoopChoice(loops, _reason(loops, code, timings, forced), code, timings)
    if measure is None and code != "default":
        _memo[memo_key] = (made, taken_load >= BUSY)
    return made


_memo: dict[tuple, tuple[LoopChoice, bool]] = {}  # -> (the choice, whether its figures were taken busy)


def _load_of(entry: dict) -> float:
    """The load per core a cached entry's figures were taken under (0.0 for entries from before it was kept)."""
    try:
        return float(entry.get("load", 0.0))
    except (TypeError, ValueError):
        return 0.0


class BuildState(NamedTuple):
    """What the app's "training code" choice shows: the loops in use and why (a `LoopChoice`), and the C++
    kernel's build: a key for translations (built, building, failed, disabled, no_compiler, no_memory, not_built)
    and a sentence."""

    loops: str
    reason: str
    code: str
    build: str = ""


def build_state(choice: LoopChoice | None = None) -> BuildState:
    """The loops the fast path runs and why (`choice`; by default the one for d2l's run, from the cache only), with
    the kernel's build state (`ext.build_code`)."""
    from gru_viz.fast.ext import build_code

    chosen = choice if choice is not None else d2l_choice()
    code, build = build_code()
    return BuildState(chosen.loops, chosen.reason, code, build)


def d2l_choice(calibrate_now: bool = False) -> LoopChoice:
    """The choice for d2l's run as the app trains it: vocabulary 28, batch 32, 35 steps, 256 units, one thread."""
    return choose_loops("cpu", torch.float32, 28, 32, 256, threads=1, calibrate_now=calibrate_now)


def _reason(loops: str, code: str, timings: tuple[tuple[str, float], ...], forced: str) -> str:
    figures = ", ".join(f"{n} {v:.1f} ms" for n, v in timings)
    if code == "forced":
        return f"{loops}, set by the server ({OVERRIDE_ENV}={forced})" + (f"; measured a step: {figures}"
                                                                          if len(timings) > 1 else "")
    if code == "only":
        return f"{loops} is the only set of loops that runs these shapes here"
    if code == "default":
        return (f"{loops} by the default order ({', '.join(DEFAULT_ORDER)}): nothing measured yet on this machine "
                "for these shapes")
    figures = ", ".join(f"{n} {v:.1f} ms" for n, v in timings)
    return f"{loops}: measured a step here ({cpu_model()}): {figures}"


def trace_loops(device: str | torch.device, dtype: torch.dtype) -> str:
    """The loops a recorded forward (a trace) runs: the kernel where built and allowed, else PyTorch's rows (the
    feature-major set only trains). A trace is one row, milliseconds long: not worth calibrating."""
    shapes = Shapes(torch.device(device).type, str(dtype).removeprefix("torch."), 1, 1, 1, 1)
    available, _ = _override([n for n in ("cpp", "torch-rows") if why_not(n, shapes) is None])
    return available[0]
