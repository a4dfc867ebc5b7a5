"""tools/box.py: the plan for cgroup v1 and v2 on fake trees, the command that joins the box, a clean refusal where
cgroups cannot be written, and (where this machine lets root write cgroups) real limits: an OOM kill is counted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from box import Box, BoxError, BoxSpec, boxes_possible, parse_box, plan_box, wrap  # noqa: E402

BOX = [sys.executable, str(ROOT / "tools" / "box.py")]



real_cgroups = pytest.mark.skipif(not boxes_possible(), reason="cgroups are not writable here (needs root)")


@pytest.mark.parametrize(("text", "cpus", "memory"), [
    ("1,2.7g", 1.0, int(2.7 * 2**30)), ("0.5,690m", 0.5, 690 * 2**20), ("2, 1G", 2.0, 2**30),
    ("1,800000000", 1.0, 800_000_000), ("0.078,700mb", 0.078, 700 * 2**20)])
def test_box_sizes_parse(text, cpus, memory):
    assert parse_box(text) == BoxSpec(cpus, memory)


@pytest.mark.parametrize("text", ["1", "1,", ",1g", "one,1g", "1,1t", "0,1g", "1,10m", "-1,1g"])
def test_bad_box_sizes_are_refused_with_a_reason(text):
    with pytest.raises(ValueError, match="CPUS|MEMORY"):
        parse_box(text)


def _fake_v1(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "cg"
    for controller in ("cpu", "memory"):
        (root / controller / "outer").mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/outer\n1:cpu:/\n0::/\n")
    return root, proc


def test_v1_plan_nests_under_this_process_cgroups_with_quota_and_limit(tmp_path):
    root, proc = _fake_v1(tmp_path)
    plan = plan_box(parse_box("0.5,690m"), "b1", root, proc)
    assert plan.version == 1
    assert plan.folders == [root / "cpu" / "b1", root / "memory" / "outer" / "b1"]
    assert plan.writes == [(root / "cpu/b1/cpu.cfs_period_us", "100000"), (root / "cpu/b1/cpu.cfs_quota_us", "50000"),
                           (root / "memory/outer/b1/memory.limit_in_bytes", str(690 * 2**20))]
    assert plan.procs == [root / "cpu/b1/cgroup.procs", root / "memory/outer/b1/cgroup.procs"]


def test_v2_plan_enables_controllers_then_sets_cpu_max_and_memory_max(tmp_path):
    root = tmp_path / "cg"
    (root / "user.slice").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "user.slice" / "cgroup.subtree_control").write_text("pids\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/user.slice\n")
    plan = plan_box(parse_box("2,2.7g"), "b2", root, proc)
    box = root / "user.slice" / "b2"
    assert plan.version == 2 and plan.folders == [box] and plan.procs == [box / "cgroup.procs"]
    assert plan.writes == [(root / "user.slice/cgroup.subtree_control", "+cpu +memory"),
                           (box / "cpu.max", "200000 100000"), (box / "memory.max", str(int(2.7 * 2**30))),
                           (box / "memory.swap.max", "0")]
    (root / "user.slice" / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert plan_box(parse_box("2,2.7g"), "b2", root, proc).writes[0][0].name == "cpu.max"  # already enabled


def test_hybrid_host_uses_v1_and_no_hierarchy_is_a_box_error(tmp_path):
    root, proc = _fake_v1(tmp_path)
    (root / "unified").mkdir()
    (root / "unified" / "cgroup.controllers").write_text("")
    assert plan_box(parse_box("1,1g"), "b", root, proc).version == 1
    with pytest.raises(BoxError, match="no cgroup"):
        plan_box(parse_box("1,1g"), "b", tmp_path / "nothing", proc)


def test_the_command_joins_every_hierarchy_before_it_becomes_the_program(tmp_path):
    """Run the wrapper for real with plain files standing in for cgroup.procs: the shell writes its own process id
    into each, then execs the command, which therefore has that same id."""
    procs = [tmp_path / "cpu.procs", tmp_path / "mem procs"]  # a space: the paths must be quoted
    out = subprocess.run(wrap([sys.executable, "-c", "import os; print(os.getpid())"], procs), capture_output=True,
                         text=True, check=True).stdout.strip()
    assert [p.read_text().strip() for p in procs] == [out, out]


def test_a_box_that_cannot_be_written_is_refused_in_one_line(tmp_path):
    """A v1 tree whose hierarchies are files, not folders: making the box fails; the tool says so in one line on
    stderr and exits 2, leaving nothing behind."""
    root, proc = _fake_v1(tmp_path)
    shutil.rmtree(root / "cpu" / "outer")
    (root / "cpu" / "gru_viz_box").write_text("")  # mkdir on this name fails (exists)
    with pytest.raises(BoxError, match="cannot make a cgroup box"):
        Box(parse_box("1,1g"), "gru_viz_box", root, proc).create()
    assert not (root / "memory" / "outer" / "gru_viz_box").exists()


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_without_root_the_tool_exits_2_with_one_line():
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *BOX, "--box", "1,1g", "--",
                           "true"], capture_output=True, text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("box: error:"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_command_and_bad_sizes_exit_2():
    for args in (["--box", "1,1g"], ["--box", "1,1t", "--", "true"]):
        proc = subprocess.run([*BOX, *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith("box: error:") and "Traceback" not in proc.stderr


@real_cgroups
def test_real_box_counts_an_oom_kill_and_reports_the_peak():
    """200 MB in a 96 MB box is killed by the kernel (exit 137, one OOM kill); 40 MB fits and shows as the peak."""
    big = subprocess.run([*BOX, "--box", "1,96m", "--json", "--", sys.executable, "-c", "x = bytearray(200 << 20)"],
                         capture_output=True, text=True, timeout=120)
    stats = json.loads(big.stdout.strip().splitlines()[-1])
    assert big.returncode == 137 and stats["oom_kills"] == 1 and stats["exit"] == -9
    small = subprocess.run([*BOX, "--box", "1,256m", "--json", "--", sys.executable, "-c",
                            "x = bytearray(40 << 20); x[::4096] = b'1' * len(x[::4096])"],
                           capture_output=True, text=True, timeout=120)
    stats = json.loads(small.stdout.strip().splitlines()[-1])
    assert small.returncode == 0 and stats["oom_kills"] == 0 and 40 <= stats["peak_mb"] < 256
