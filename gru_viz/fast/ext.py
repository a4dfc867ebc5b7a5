"""Building and loading the optional C++ loops of the fast path (csrc/gru_fast.cpp), never as a side effect.

A build takes most of a minute and about BUILD_PEAK_MB of memory, so it starts only when asked for and only with
room to spare; until it is done, and wherever it cannot be, `gru_viz.fast` runs its PyTorch loops instead.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType

import torch

from gru_viz.data import cache_dir
from gru_viz.fast import build_record
from gru_viz.serve.memlimit import Memory, read_memory

SOURCE = Path(__file__).resolve().parent / "csrc" / "gru_fast.cpp"
# OpenMP so that at::parallel_for really runs the row blocks in parallel; the extension then shares torch's
# own libgomp (same soname, already loaded), hence one thread pool. Apple's clang has no -fopenmp: serial there.
_OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []
CFLAGS = ["-O3", *_OPENMP]
LDFLAGS = [*_OPENMP]


# What a build adds to the process's memory (ninja, one g++ on torch's headers, the files it writes): 929 MB peak
# for `python -m gru_viz build-ext` in a box, of which 149 MB is Python with torch (g++ 12, torch 2.13;
# docs/BENCHMARKS.md); and what the app itself may grow by meanwhile (visitors arriving, runs starting). A
# background build starts only with both free under the box's limit, so an out-of-memory kill never hits the app.
BUILD_PEAK_MB = 800
APP_RESERVE_MB = 400


class ExtensionBuildError(RuntimeError):
    """The C++ loops could not be built; the message says why and what still works."""


_module: ModuleType | None = None
_load_lock = threading.Lock()
_build_lock = threading.Lock()
_failed: str | None = None  # why the last build failed, so a background build is not retried every call
_skipped: str | None = None  # why the background build did not start (no room, no compiler, turned off)
_thread: threading.Thread | None = None
_unloadable: Path | None = None  # a cached library that would not import (checked once, not on every step)


@functools.lru_cache(maxsize=1)
def _key() -> str:
    """Changes with the source, the flags, torch and Python: a build for another ABI is never loaded."""
    parts = [SOURCE.read_bytes(), " ".join(CFLAGS + LDFLAGS).encode(), torch.__version__.encode(),
             sys.version.encode(), platform.machine().encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def module_name() -> str:
    return f"gru_fast_{_key()}"


def ext_dir() -> Path:
    """Where this version's build lives: the user cache dir (or $GRU_VIZ_CACHE_DIR)/ext/<name>."""
    return cache_dir() / "ext" / module_name()


def _library() -> Path:
    return ext_dir() / f"{module_name()}.so"  # torch.utils.cpp_extension names it so on Linux and macOS


def compiler_problem() -> str | None:
    """Why a build cannot even start (no C++ compiler, no ninja), or None."""
    cxx = os.environ.get("CXX") or "g++"
    if not shutil.which(cxx):
        return f"no C++ compiler ({cxx}) on PATH"
    from torch.utils.cpp_extension import is_ninja_available

    if not is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    return None


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_extension() -> ModuleType | None:
    """The built extension, imported on first use; None when it has not been built. Never compiles."""
    global _module, _unloadable
    if _module is not None:
        return _module
    path = _library()
    if path == _unloadable or not path.is_file():
        return None
    with _load_lock:
        if _module is None:
            try:
                _module = _import(path, module_name())
            except (ImportError, OSError):  # a broken or foreign file: behave as if unbuilt
                _unloadable = path
                return None
    return _module


def build_extension(verbose: bool = False, retry_failed: bool = True) -> Path:
    """Compile the extension into the cache (40-50 s the first time) and load it; raises ExtensionBuildError.

    A failure is recorded in the cache (`recorded_failure`); retry_failed=False gives up at once on a recorded one."""
    global _module, _failed
    with _build_lock:
        if load_extension() is not None:
            return _library()
        recorded = recorded_failure()
        if recorded and not retry_failed:
            _failed = recorded
            raise ExtensionBuildError(f"building the C++ fast path failed before ({recorded}); not retried")
        problem = compiler_problem()
        if problem:  # not a failure to remember: installing a compiler fixes it, and build_state says so
            raise ExtensionBuildError(f"cannot build the C++ fast path: {problem}; the pure-PyTorch path is used")
        from torch.utils.cpp_extension import load

        # A private build folder per attempt, published with an atomic rename: another process that finds the
        # library never imports a half-written one, and an attempt killed midway (a daemon thread at exit)
        # leaves no stale object file or lock behind for the next one to trip over.
        _remove_stale_builds()
        build = Path(tempfile.mkdtemp(prefix="build-", dir=_mkdir(ext_dir())))
        build_record.mark_attempt(_mkdir(ext_dir()))
        try:
            module = load(name=module_name(), sources=[str(SOURCE)], extra_cflags=CFLAGS, extra_ldflags=LDFLAGS,
                          build_directory=str(build), verbose=verbose)
            tmp = build / "publish.part"
            shutil.copy2(build / f"{module_name()}.so", tmp)
            os.replace(tmp, _library())
        except Exception as exc:  # compiler errors arrive as RuntimeError, CalledProcessError, OSError...
            _failed = _first_error(exc)
            build_record.record_failure(ext_dir(), _failed)
            raise ExtensionBuildError(f"building the C++ fast path failed ({_failed}); the pure-PyTorch path is used"
                                      ) from exc
        finally:
            shutil.rmtree(build, ignore_errors=True)  # the loaded library stays mapped; the cache keeps its copy
            build_record.clear(ext_dir(), failure=False)
        build_record.clear(ext_dir(), failure=True)
        _module, _failed = module, None
        return _library()


def recorded_failure() -> str | None:
    """Why the build failed for this source and torch, as recorded in the cache (`build_record`), or None."""
    return build_record.recorded_failure(ext_dir(), _build_lock.locked())


def build_room(memory: Memory, peak_mb: int = BUILD_PEAK_MB, reserve_mb: int = APP_RESERVE_MB) -> str | None:
    """None when a build fits beside the app (its peak plus the app's reserve under the limit), else why not."""
    room = memory.headroom
    if room is None or room >= (peak_mb + reserve_mb) * 2**20:
        return None
    limit = f"{memory.limit / 2**20:,.0f} MB limit, {memory.usage / 2**20:,.0f} MB in use" if memory.limit else (
        f"{(memory.available or 0) / 2**20:,.0f} MB of memory available")
    return (f"not enough memory to build the C++ kernel beside the app ({limit}; the build takes about "
            f"{peak_mb} MB and {reserve_mb} MB are kept for the app)")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_stale_builds(max_age_s: float = 3600.0) -> None:
    """Build folders of attempts that died more than an hour ago (a build takes under a minute)."""
    parent = ext_dir()
    if not parent.is_dir():
        return
    for folder in parent.glob("build-*"):
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)


def _first_error(exc: Exception) -> str:
    """The compiler's first error line, else the message's last line: enough to say what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and not line.startswith("Error building")]
    return (errors or lines or [type(exc).__name__])[0 if errors else -1][:300]


def start_background_build(memory: Memory | None = None) -> threading.Thread | None:
    """Build in a daemon thread unless built, turned off (GRU_VIZ_BUILD_EXT=0), impossible, failed before (in this
    process or recorded in the cache) or short of memory (`build_room`); never raises, never blocks."""
    global _skipped, _thread
    try:
        if load_extension() is not None or _failed is not None or (_thread is not None and _thread.is_alive()):
            return None
        _skipped = skip_reason(read_memory() if memory is None else memory)
        if _skipped:
            return None

        def work() -> None:
            # Linux sets niceness per thread, and the compiler processes started here inherit it: the build
            # then takes only CPU time that visitors and training runs leave unused.
            with contextlib.suppress(OSError, AttributeError):
                os.nice(10)
            try:
                build_extension(retry_failed=False)
            except Exception:  # noqa: S110 (recorded in _failed and the cache; the torch path keeps working)
                pass

        _thread = threading.Thread(target=work, name="gru_viz-build-ext", daemon=True)
        _thread.start()
        return _thread
    except Exception:  # e.g. an unwritable cache dir: the fast path simply stays pure PyTorch
        return None


def skip_reason(memory: Memory) -> str | None:
    """Why a background build should not start now, or None."""
    if os.environ.get("GRU_VIZ_BUILD_EXT", "1") == "0":
        return "building the C++ kernel is turned off (GRU_VIZ_BUILD_EXT=0)"
    recorded = recorded_failure()
    if recorded:
        return (f"building the C++ kernel failed ({recorded}); not retried for this torch and source "
                "(`python -m gru_viz build-ext` tries again)")
    return compiler_problem() or build_room(memory)


def build_failure() -> str | None:
    """Why the last build in this process failed, if it did."""
    return _failed


def build_code() -> tuple[str, str]:
    """The kernel's build state: a key for translations and a sentence (`choice.build_state` shows it). Cheap once
    the app has called `start_background_build` (its decision is kept); before, it checks the compiler and reads
    the cgroup."""
    if load_extension() is not None:
        return "built", "the C++ kernel is built and loaded"
    if _thread is not None and _thread.is_alive():
        return "building", "the C++ kernel is being built in the background"
    if _failed is not None:
        return "failed", f"building the C++ kernel failed ({_failed})"
    reason = _skipped or skip_reason(read_memory())
    if reason is None:
        return "not_built", "the C++ kernel is not built (`python -m gru_viz build-ext`)"
    code = ("disabled" if "GRU_VIZ_BUILD_EXT" in reason else "failed" if reason.startswith("building") else
            "no_memory" if reason.startswith("not enough memory") else "no_compiler")
    return code, reason
