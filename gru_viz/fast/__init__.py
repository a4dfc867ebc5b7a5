"""The fast training wing: hand-written BPTT with the same numbers as `train.textbook_step`, on loops chosen by
measurement (`choose_loops`), in C++ (csrc/) where it is built and in PyTorch everywhere."""

from gru_viz.fast.choice import LOOPS, BuildState, LoopChoice, build_state, choose_loops
from gru_viz.fast.ext import build_extension, start_background_build
from gru_viz.fast.step import fast_step, fast_trace, run_step

__all__ = ["LOOPS", "BuildState", "LoopChoice", "build_extension", "build_state", "choose_loops", "fast_step",
           "fast_trace", "run_step", "start_background_build"]
