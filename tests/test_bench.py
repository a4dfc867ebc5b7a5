"""`python -m gru_viz bench`: every path's column and its equality check, and the app's cold start."""

from __future__ import annotations

import argparse
import json
import math

import pytest
from fast_loops import FAST

from gru_viz.fast import ext as fast_ext
from gru_viz.fast import torch_rows as fast_torch


def test_bench_times_every_path_and_passes_its_checks(tmp_path, capsys):
    """The benchmark's columns (textbook, the PyTorch fast path, nn.GRU; the C++ kernel only where built) and its
    equality checks; the app's cold start (a fresh process) is left out here and timed by the slow test below."""
    from gru_viz.bench import run_bench

    path = tmp_path / "small.txt"
    path.write_text("the time traveller for so it will be convenient to speak of him was expounding " * 30)
    args = argparse.Namespace(epochs=1, reps=2, hidden=16, corpus=str(path), device="cpu", json=True,
                              cold_start=False)
    assert run_bench(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    here = [n for n in FAST if fast_ext.load_extension() is not None or n != "cpp"]
    here = [n for n in here if n != "torch-fm" or fast_torch.onednn_available()]
    assert set(result["tokens_per_sec"]) == {"textbook", "nn.GRU"} | {f"fast ({n})" for n in here}
    assert result["loops"] in here and result["loops_reason"].startswith(result["loops"])
    assert result["pass"] and all(c["max_relative_difference"] <= 1e-5 for c in result["check"].values())
    assert all(r["median"] > 0 and r["per_cpu_second"] > 0 for r in result["tokens_per_sec"].values())
    assert result["trace"]["probe_chars"] == 1000 and "PASS" in out and "cold_start_s" not in result["app"]
    assert result["race"]["gru_tokens_per_sec"] > 0 and result["race"]["plain_rnn_tokens_per_sec"] > 0
    assert all(result["trace"][f"fast_trace_torch-rows_{forcing}_max_abs_diff"] < 1e-5
               for forcing in ("free", "forced", "partial"))


@pytest.mark.slow
def test_bench_cold_start_runs_the_app_to_its_first_charts():
    from gru_viz.bench import cold_start_seconds

    seconds = cold_start_seconds(timeout=240)
    assert math.isfinite(seconds) and seconds > 0  # NaN when the page raised or drew no chart
