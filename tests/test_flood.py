"""tools/flood.py against the real app under `streamlit run` (issue 31, items 3 and 6): fresh sessions from
127.0.0.1 with a forged X-Forwarded-For each are one client, stopped by the per-network limit; a teacher from
127.0.0.2 and a student from 127.0.0.3 are other clients and are served; a visitor's finished runs beyond their
share are freed. Counts classes, joins and runs; times nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_forged_addresses_from_loopback_are_one_client_and_other_addresses_are_served():
    cmd = [sys.executable, str(ROOT / "tools" / "flood.py"), "--starts", "24", "--joins", "3", "--runs", "3",
           "--kept-mb", "30"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["alive"] and out["tracebacks"] == 0
    assert out["flood_started"] == 20  # ClassLimits' starts per network: 24 forged addresses counted as one
    assert out["teacher_code"] and out["student_in_class"]  # 127.0.0.2 and 127.0.0.3 are not that client
    assert out["flood_joined"] == 3
    assert out["finished"] == 3 and out["runs_still_inspectable"] == 1  # about 21 MB each, 30 MB per visitor
