"""tools/procs.py, the /proc walk the load test and the cold-start check measure a server with: it finds a
process's grandchildren and counts their memory."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import procs  # noqa: E402 (tools/ is not a package)

MB = 64
# a child that starts a grandchild holding MB megabytes (every page touched), which says when it is ready
GRANDCHILD = (f"b = bytearray({MB} << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
              "print('ready', flush=True)\nimport time\ntime.sleep(60)\n")
CHILD = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {GRANDCHILD!r}])\n"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_the_tree_walk_finds_a_grandchild_and_counts_its_memory():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        members = procs.tree(child.pid)
        assert members[0] == child.pid and len(members) == 2
        grandchild = members[1]
        assert procs.rss_kb(grandchild) >= MB * 1024
        assert procs.tree_rss_kb(child.pid) - procs.rss_kb(child.pid) >= MB * 1024
        assert procs.names(child.pid) == [Path(f"/proc/{grandchild}/comm").read_text().strip()]
        assert procs.cpu_seconds(child.pid) >= 0
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    gone = child.pid  # reaped: nothing left to read
    assert procs.tree(gone) == [gone] and procs.rss_kb(gone) == 0 and math.isnan(procs.cpu_seconds(gone))
