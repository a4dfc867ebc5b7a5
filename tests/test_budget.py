"""Memory budget: the estimate covers measured runs, the cgroup readers parse v1 and v2 files, freed heap returns."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from gru_viz.serve import budget, memlimit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import memtable  # noqa: E402


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _box(tmp_path: Path, proc: str, files: dict[str, str]) -> dict:
    _write(tmp_path, "proc_cgroup", proc)
    for rel, text in files.items():
        _write(tmp_path / "fs", rel, text)
    return {"root": tmp_path / "fs", "proc_cgroup": tmp_path / "proc_cgroup"}


def test_cgroup_v2_limit_is_the_tightest_ancestor_and_usage_leaves_out_file_cache(tmp_path):
    box = _box(tmp_path, "0::/user.slice/app.scope\n", {
        "user.slice/app.scope/memory.max": "max\n",
        "user.slice/app.scope/memory.current": "300000000\n",
        "user.slice/memory.max": "1073741824\n",
        "user.slice/memory.current": "500000000\n",
        "user.slice/memory.stat": "anon 350000000\nfile 150000000\ninactive_file 100000000\n",
    })
    assert memlimit.box_memory_limit(**box) == 2**30
    assert memlimit.box_memory_usage(**box) == 400_000_000  # the limited cgroup's, less inactive file pages
    assert budget.memory_left(memory=memlimit.read_memory(box["proc_cgroup"], box["root"])) == 2**30 - 400_000_000


def test_cgroup_v1_limit_and_unlimited(tmp_path):
    files = {"memory/process_api/abc/memory.limit_in_bytes": "2147483648\n",
             "memory/process_api/abc/memory.usage_in_bytes": "700000000\n",
             "memory/process_api/abc/memory.stat": "cache 10\ntotal_inactive_file 200000000\n",
             "memory/memory.limit_in_bytes": "9223372036854771712\n"}
    box = _box(tmp_path, "5:cpu:/\n4:memory:/process_api/abc\n0::/\n", files)
    assert memlimit.box_memory_limit(**box) == 2 * 2**30
    assert memlimit.box_memory_usage(**box) == 500_000_000
    _write(tmp_path / "fs", "memory/process_api/abc/memory.limit_in_bytes", "9223372036854771712\n")
    assert memlimit.box_memory_limit(**box) is None  # v1 writes "no limit" as a huge number
    assert memlimit.box_memory_usage(**box) == 500_000_000  # still the innermost cgroup's


def test_container_that_sees_the_hosts_path_reads_its_mount(tmp_path):
    box = _box(tmp_path, "0::/kubepods/pod1/ctr\n", {"memory.max": "536870912\n", "memory.current": "1000\n"})
    assert memlimit.box_memory_limit(**box) == 512 * 2**20
    assert memlimit.box_memory_usage(**box) == 1000


def test_no_cgroup_files_means_unknown(tmp_path):
    box = _box(tmp_path, "0::/\n", {})
    assert memlimit.box_memory_limit(**box) is None and memlimit.box_memory_usage(**box) is None
    unknown = memlimit.read_memory(box["proc_cgroup"], box["root"], tmp_path / "no_meminfo")
    assert unknown == memlimit.Memory(None, None, None) and budget.memory_left(memory=unknown) is None
    assert budget.memory_left(4 * 2**30, memory=unknown) == 4 * 2**30 - budget.process_rss()
    missing = {"root": tmp_path / "none", "proc_cgroup": tmp_path / "no_such_file"}
    assert memlimit.box_memory_limit(**missing) is None and memlimit.box_memory_usage(**missing) is None
    garbage = _box(tmp_path / "g", "0::/\n", {"memory.max": "lots\n", "memory.current": "-5\n"})
    assert memlimit.box_memory_limit(**garbage) is None and memlimit.box_memory_usage(**garbage) is None


def test_estimate_grows_with_every_setting_and_knows_the_engines():
    base = dict(hidden=256, batch_size=32, num_steps=35, vocab_size=28, tokens=10_000)
    ref = budget.estimate_run_bytes(**base)
    for key, bigger in (("hidden", 512), ("batch_size", 256), ("num_steps", 200), ("vocab_size", 200),
                        ("tokens", 200_000)):
        assert budget.estimate_run_bytes(**{**base, key: bigger}) > ref, key
    assert budget.estimate_run_bytes(**base, engine="textbook") > ref
    assert budget.estimate_run_bytes(**base, loops="torch-rows") > ref
    assert budget.estimate_run_bytes(**base, variants=4) > ref
    with pytest.raises(ValueError, match="engine"):
        budget.estimate_run_bytes(**base, engine="turbo")

    class Config:  # anything with the attributes, e.g. TrainConfig
        hidden, batch_size, num_steps, engine = 256, 32, 35, "fast"

    assert budget.settings_bytes(Config(), 28, 10_000) == ref


@pytest.mark.slow
@pytest.mark.parametrize("engine, loops", [("textbook", None), ("fast", "torch-rows")])
def test_estimate_covers_the_measured_peak_of_a_real_run(engine, loops):
    settings = {"hidden": 128, "batch_size": 64, "num_steps": 35, "tokens": 20_000, "engine": engine}
    if loops:
        settings["loops"] = loops
    row = memtable.measure(settings, timeout=600)
    assert row["peak_exact"], "this kernel cannot reset the peak RSS; the measurement would be meaningless"
    assert 0 < row["peak_mb"] <= row["estimate_mb"], row


@pytest.mark.slow
@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_release_memory_hands_freed_heap_back():
    # After one large block is freed, glibc raises its mmap threshold, so the next tensors come from the heap and
    # stay resident when freed: what kept the server's RSS gigabytes high after a run.
    script = """
import torch
from gru_viz.serve import budget, memlimit
start = budget.process_rss()
big = torch.ones(30 * 2**20 // 4); del big
keep = [torch.ones(2**21) for _ in range(21)]  # 21 x 8 MB from the heap
pin = keep.pop()  # the highest of them stays, so the heap's top cannot shrink by itself
del keep
held = budget.process_rss() - start
assert budget.release_memory()
print(held, budget.process_rss() - start)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    held, after = map(int, proc.stdout.split())
    assert held > 100 * 2**20, "glibc returned the memory by itself: the scenario did not happen"
    assert after < 0.2 * held, (held, after)


def test_release_memory_and_rss_readers_are_safe_to_call():
    assert budget.release_memory() in (True, False)
    assert budget.process_rss() >= 0 and budget.peak_rss() >= budget.process_rss() > 0
