"""Building and loading the optional C++ loops of the fast path (csrc/gru_fast.cpp), never as a side effect.

A build takes most of a minute, so it happens only when asked for (`build_extension`, `start_background_build`);
until it is done, and wherever no compiler exists, `gru_viz.fast` runs its pure-PyTorch loops instead.
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

SOURCE = Path(__file__).resolve().parent / "csrc" / "gru_fast.cpp"
# OpenMP so that at::parallel_for really runs the row blocks in parallel; the extension then shares torch's
# own libgomp (same soname, already loaded), hence one thread pool. Apple's clang has no -fopenmp: serial there.
_OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []
CFLAGS = ["-O3", *_OPENMP]
LDFLAGS = [*_OPENMP]


class ExtensionBuildError(RuntimeError):
    """The C++ loops could not be built; the message says why and what still works."""


_module: ModuleType | None = None
_load_lock = threading.Lock()
_build_lock = threading.Lock()
_failed: str | None = None  # why the last build failed, so a background build is not retried every call
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


def build_extension(verbose: bool = False) -> Path:
    """Compile the extension into the cache (40-50 s the first time) and load it; raises ExtensionBuildError."""
    global _module, _failed
    with _build_lock:
        if load_extension() is not None:
            return _library()
        problem = compiler_problem()
        if problem:
            _failed = problem
            raise ExtensionBuildError(f"cannot build the C++ fast path: {problem}; the pure-PyTorch path is used")
        from torch.utils.cpp_extension import load

        # A private build folder per attempt, published with an atomic rename: another process that finds the
        # library never imports a half-written one, and an attempt killed midway (a daemon thread at exit)
        # leaves no stale object file or lock behind for the next one to trip over.
        _remove_stale_builds()
        build = Path(tempfile.mkdtemp(prefix="build-", dir=_mkdir(ext_dir())))
        try:
            module = load(name=module_name(), sources=[str(SOURCE)], extra_cflags=CFLAGS, extra_ldflags=LDFLAGS,
                          build_directory=str(build), verbose=verbose)
            tmp = build / "publish.part"
            shutil.copy2(build / f"{module_name()}.so", tmp)
            os.replace(tmp, _library())
        except Exception as exc:  # compiler errors arrive as RuntimeError, CalledProcessError, OSError...
            _failed = _first_error(exc)
            raise ExtensionBuildError(f"building the C++ fast path failed ({_failed}); the pure-PyTorch path is used"
                                      ) from exc
        finally:
            shutil.rmtree(build, ignore_errors=True)  # the loaded library stays mapped; the cache keeps its copy
        _module, _failed = module, None
        return _library()


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


def start_background_build() -> threading.Thread | None:
    """Build in a daemon thread unless built, impossible or already failed; never raises, never blocks."""
    try:
        if load_extension() is not None or _failed is not None or compiler_problem() is not None:
            return None

        def work() -> None:
            # Linux sets niceness per thread, and the compiler processes started here inherit it: the build
            # then takes only CPU time that visitors and training runs leave unused.
            with contextlib.suppress(OSError, AttributeError):
                os.nice(10)
            try:
                build_extension()
            except Exception:  # noqa: S110 (recorded in _failed; the torch path keeps working)
                pass

        thread = threading.Thread(target=work, name="gru_viz-build-ext", daemon=True)
        thread.start()
        return thread
    except Exception:  # e.g. an unwritable cache dir: the fast path simply stays pure PyTorch
        return None


def build_failure() -> str | None:
    """Why the last build in this process failed, if it did."""
    return _failed


def fast_backend() -> str:
    """Which loops `fast_step` runs for CPU float tensors: "cpp" once the extension is built, else "torch"."""
    return "cpp" if load_extension() is not None else "torch"
