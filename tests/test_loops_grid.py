"""tools/loops_grid.py, the grid behind docs/BENCHMARKS.md: one tiny cell runs end to end on this host's loops."""

import importlib.util
import math
from pathlib import Path

import pytest

from gru_viz.fast import choice

TOOL = Path(__file__).resolve().parents[1] / "tools" / "loops_grid.py"


@pytest.fixture(scope="module")
def grid():
    spec = importlib.util.spec_from_file_location("loops_grid", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_grid_cell_times_the_textbook_and_every_set_that_can_run_here(grid):
    row = grid.cell(hidden=8, vocab=28, batch=8, rounds=1, steps=1)
    shapes = choice.Shapes("cpu", "float32", 28, 8, 8, 1)
    runnable = {n for n in choice.LOOPS if choice.why_not(n, shapes) is None}
    assert set(row["ms"]) == runnable | {"textbook"}  # the baseline of every ratio is always timed
    assert all(ms > 0 and math.isfinite(ms) for ms in row["ms"].values())
    assert row["winner"] == min(row["ms"], key=row["ms"].get)


def test_the_grid_table_has_a_row_per_cell_with_its_winner_in_bold(grid):
    rows = [{"hidden": 8, "vocab": 28, "batch": 8, "ms": {"textbook": 4.0, "torch-rows": 2.0}, "winner": "torch-rows",
             "margin": 2.0}]
    md = grid.table(rows).splitlines()
    assert len(md) == 3 and "**torch-rows**" in md[2] and "| 2.00x | 2.00x |" in md[2] and "–" in md[2]
