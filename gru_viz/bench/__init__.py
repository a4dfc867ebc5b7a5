"""`python -m gru_viz bench`: the training paths side by side (training), the app's other times (timings), and
the two reports that print them (run)."""

from gru_viz.bench.run import run_bench, run_vocab_bench
from gru_viz.bench.timings import cold_start_seconds

__all__ = ["cold_start_seconds", "run_bench", "run_vocab_bench"]
