"""The optional C++ build: absent, failing, never in the way; started only with room under the box's memory
limit; a failure remembered and not retried; the reason shown. (Its results against the PyTorch loops:
tests/test_fast_loops.py.)"""

from __future__ import annotations

import json
import math

import pytest
import torch

from gru_viz.fast import build_record, choice, fast_step, run_step, start_background_build
from gru_viz.fast import ext as fast_ext
from gru_viz.nets.model import Forcing, GRUScratch

# --- the optional C++ build: absent, failing, and never in the way -----------------------------------------


@pytest.fixture
def unbuilt(monkeypatch, tmp_path):
    """An empty cache and no extension loaded in this process."""
    monkeypatch.setenv("GRU_VIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fast_ext, "_module", None)
    monkeypatch.setattr(fast_ext, "_failed", None)
    monkeypatch.setattr(fast_ext, "_skipped", None)
    monkeypatch.setattr(fast_ext, "_thread", None)
    monkeypatch.setenv("GRU_VIZ_BUILD_EXT", "1")  # tests turn the app's build off; these tests are about it
    monkeypatch.delenv("GRU_VIZ_FAST_BACKEND", raising=False)
    monkeypatch.setattr(choice, "_memo", {})


D2L = choice.Shapes("cpu", "float32", 28, 32, 256, 1)


def _kernel_is_a_candidate() -> bool:
    return "cpp" in choice.candidates(D2L)


def test_without_a_build_the_torch_path_runs(unbuilt):
    assert fast_ext.load_extension() is None and not _kernel_is_a_candidate()
    m = GRUScratch(7, 12).double()
    X, Y = torch.randint(0, 7, (5, 6)), torch.randint(0, 7, (5, 6))
    state = torch.zeros(5, 12, dtype=torch.float64)
    loss, _ = fast_step(m, X, Y, state, 1.0, 1.0, Forcing())
    assert math.isfinite(loss)
    with pytest.raises(RuntimeError, match="not built"):
        run_step(m, X, Y, state, 1.0, 1.0, Forcing(), loops="cpp")


def test_no_compiler_is_a_clear_error_and_never_raises_in_background(unbuilt, monkeypatch):
    monkeypatch.setattr(fast_ext.shutil, "which", lambda *_: None)
    assert "compiler" in fast_ext.compiler_problem()
    with pytest.raises(fast_ext.ExtensionBuildError, match="pure-PyTorch"):
        fast_ext.build_extension()
    assert start_background_build(_roomy()) is None  # no compiler: no thread, no exception
    assert choice.build_state().code == "no_compiler"


def test_background_build_swallows_failures(unbuilt, monkeypatch):
    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)

    def broken(**kwargs):
        raise fast_ext.ExtensionBuildError("simulated")

    monkeypatch.setattr(fast_ext, "build_extension", broken)
    thread = start_background_build(_roomy())
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    assert not thread.is_alive() and not _kernel_is_a_candidate()


def test_failed_build_reports_the_compiler_error_and_leaves_no_folder(unbuilt, monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    def failing_load(**kwargs):
        raise RuntimeError("Error building extension 'x': [1/2] c++ ...\ngru_fast.cpp:1:1: error: boom\nninja: stopped")

    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)
    monkeypatch.setattr(cpp_extension, "load", failing_load)
    with pytest.raises(fast_ext.ExtensionBuildError, match="error: boom"):
        fast_ext.build_extension()
    assert fast_ext.build_failure() and not list(fast_ext.ext_dir().glob("build-*"))
    assert not _kernel_is_a_candidate()


# --- the build's state: room under the box's memory limit, failures remembered, the reason shown --------------


MB = 2**20


@pytest.mark.parametrize(("limit_mb", "usage_mb", "available_mb", "room"), [
    (2765, 400, 20000, True),    # Cloud large: 2.7 GB, the app idle
    (1024, 200, 20000, False),   # Cloud small: 1 GB leaves 824 MB, less than the build's peak plus the reserve
    (690, 300, 20000, False),    # the smallest box
    (None, None, 20000, True),   # no cgroup limit, plenty free on the host
    (None, None, 700, False),    # no cgroup limit, but the host is nearly full
    (8000, 6900, 20000, False),  # a large limit, mostly used
    (2000, 800, 20000, True),    # exactly the build's peak plus the reserve left
])
def test_build_starts_only_with_room_for_its_peak_and_the_apps_reserve(limit_mb, usage_mb, available_mb, room):
    from gru_viz.serve.memlimit import Memory

    memory = Memory(None if limit_mb is None else limit_mb * MB, None if usage_mb is None else usage_mb * MB,
                    available_mb * MB)
    reason = fast_ext.build_room(memory)
    assert (reason is None) == room
    if not room:
        assert reason.startswith("not enough memory") and f"{fast_ext.BUILD_PEAK_MB} MB" in reason
        if limit_mb:
            assert f"{limit_mb:,} MB limit" in reason


def test_no_room_means_no_background_build_and_the_state_says_why(unbuilt, monkeypatch):
    from gru_viz.serve.memlimit import Memory

    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)
    monkeypatch.setattr(fast_ext, "build_extension", lambda **kw: pytest.fail("a build started without room"))
    assert start_background_build(Memory(690 * MB, 350 * MB, 20000 * MB)) is None
    state = choice.build_state()
    assert state.loops != "cpp" and state.code == "no_memory" and "690 MB limit" in state.build


def test_cgroup_limit_and_usage_read_from_v1_and_v2_files(tmp_path):
    """The tightest memory cgroup above the process, from fake /sys/fs/cgroup trees (v1 nested, v2 unified)."""
    from gru_viz.serve.memlimit import read_memory

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 24000000 kB\nMemAvailable: 20000000 kB\n")
    v1 = tmp_path / "v1"
    for folder, limit, usage in (("memory", 9223372036854771712, 5 * 10**9), ("memory/a", 2 * 10**9, 10**9),
                                 ("memory/a/b", 9223372036854771712, 4 * 10**8)):
        (v1 / folder).mkdir(parents=True)
        (v1 / folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
        (v1 / folder / "memory.usage_in_bytes").write_text(f"{usage}\n")
    proc = tmp_path / "cgroup_v1"
    proc.write_text("4:memory:/a/b\n1:cpu:/\n0::/\n")
    m = read_memory(proc, v1, meminfo)
    assert (m.limit, m.usage, m.available) == (2 * 10**9, 10**9, 20000000 * 1024) and m.headroom == 10**9
    v2 = tmp_path / "v2"
    (v2 / "app").mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    (v2 / "app" / "memory.max").write_text("1073741824\n")
    (v2 / "app" / "memory.current").write_text("536870912\n")
    proc.write_text("0::/app\n")
    m = read_memory(proc, v2, meminfo)
    assert (m.limit, m.usage) == (2**30, 2**29) and m.headroom == 2**29
    (v2 / "app" / "memory.max").write_text("max\n")
    assert read_memory(proc, v2, meminfo).limit is None and read_memory(proc, v2, meminfo).headroom == 20000000 * 1024


def test_a_failed_build_is_recorded_and_not_retried_at_the_next_start(unbuilt, monkeypatch):
    """A compiler error is written to the cache; a new process (simulated: in-memory state reset) starts no build
    for the same source and torch, and says why; an explicit build (`python -m gru_viz build-ext`) tries again."""
    import torch.utils.cpp_extension as cpp_extension

    calls = []

    def failing_load(**kwargs):
        calls.append(1)
        raise RuntimeError("Error building extension 'x'\nc++: fatal error: Killed signal terminated program cc1plus")

    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)
    monkeypatch.setattr(cpp_extension, "load", failing_load)
    thread = start_background_build(_roomy())
    thread.join(timeout=30)
    assert len(calls) == 1 and "Killed signal" in fast_ext.recorded_failure()
    assert not (fast_ext.ext_dir() / build_record.ATTEMPT_FILE).exists()

    monkeypatch.setattr(fast_ext, "_failed", None)  # the next server start: nothing in memory, the cache remains
    monkeypatch.setattr(fast_ext, "_skipped", None)
    assert start_background_build(_roomy()) is None and len(calls) == 1
    state = choice.build_state()
    assert state.loops != "cpp" and state.code == "failed" and "Killed signal" in state.build

    with pytest.raises(fast_ext.ExtensionBuildError):
        fast_ext.build_extension()  # explicit: retried
    assert len(calls) == 2


def test_an_attempt_killed_midway_counts_as_failed(unbuilt, monkeypatch):
    """A marker left by a build whose process died (an out-of-memory kill takes the whole server) is a failure."""
    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)
    _mkdir_ext()
    (fast_ext.ext_dir() / build_record.ATTEMPT_FILE).write_text(json.dumps({"pid": 2**22 + 7, "start": "1"}))
    monkeypatch.setattr(fast_ext, "build_extension", lambda **kw: pytest.fail("retried after a killed attempt"))
    assert start_background_build(_roomy()) is None
    assert "killed" in fast_ext.recorded_failure() and choice.build_state().code == "failed"


def test_the_server_setting_picks_the_loops_where_the_kernel_is_built(unbuilt, monkeypatch):
    """GRU_VIZ_FAST_BACKEND overrides the measured choice: a name from LOOPS, or "torch" for the PyTorch loops; a set
    that cannot run here leaves the choice as it would be (the same name in BuildState, the trace and a step)."""
    monkeypatch.setattr(fast_ext, "load_extension", lambda: object())  # as if built
    assert _kernel_is_a_candidate() and choice.build_state().code == "built"
    assert choice.trace_loops("cpu", torch.float32) == "cpp"
    for wanted, expect in (("cpp", {"cpp"}), ("torch-rows", {"torch-rows"}), ("torch", {"torch-fm", "torch-rows"})):
        monkeypatch.setenv("GRU_VIZ_FAST_BACKEND", wanted)
        made = choice.d2l_choice()
        assert made.loops in expect and made.code == "forced", wanted
        assert f"GRU_VIZ_FAST_BACKEND={wanted}" in made.reason
        state = choice.build_state(made)
        assert (state.loops, state.reason, state.code) == (made.loops, made.reason, "built")
    assert choice.trace_loops("cpu", torch.float32) == "torch-rows"
    monkeypatch.setenv("GRU_VIZ_FAST_BACKEND", "cpp")
    assert choice.choose_loops("cpu", torch.float32, 28, 32, 8, threads=1, calibrate_now=False).code == "forced"
    assert choice.choose_loops("cuda", torch.float32, 28, 32, 8, threads=1, calibrate_now=False).loops != "cpp"


def _roomy():
    from gru_viz.serve.memlimit import Memory

    return Memory(None, None, 64000 * MB)


def _mkdir_ext():
    fast_ext.ext_dir().mkdir(parents=True, exist_ok=True)
