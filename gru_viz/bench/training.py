"""The training paths the bench times side by side on the same batches (the textbook step, the fast step on
every set of loops that runs here, d2l's concise nn.GRU), and the check that the fast paths train to the
textbook's parameters."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from gru_viz.data import batches
from gru_viz.fast import choose_loops, run_step
from gru_viz.fast.choice import Shapes, why_not
from gru_viz.nets.model import FREE, PARAM_NAMES, GRUScratch
from gru_viz.train import TrainConfig, clipped_sgd, textbook_step

CHECK_RTOL = 1e-5


class ConciseGRU(nn.Module):
    """d2l's concise RNNModel around nn.GRU: one-hot inputs, nn.GRU(vocab, hidden), Linear(hidden, vocab)."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.GRU(vocab_size, hidden)
        self.linear = nn.Linear(hidden, vocab_size)

    def forward(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.one_hot(X.T.long(), self.vocab_size).to(torch.float32)
        Y, state = self.rnn(x, state)
        return self.linear(Y.reshape(-1, Y.shape[-1])), state


def concise_step(net: ConciseGRU, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float,
                 clip: float) -> tuple[float, torch.Tensor]:
    """d2l's train_epoch_ch8 for the concise model: autograd, the same global-norm clipping, plain SGD."""
    logits, state = net(X, state)
    loss = F.cross_entropy(logits, Y.T.reshape(-1))
    clipped_sgd(loss, list(net.parameters()), lr, clip)
    return float(loss.detach()), state.detach()


def train_epochs(step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[float, torch.Tensor]],
           begin_state: Callable[[int], torch.Tensor], tokens: list[int], cfg: TrainConfig, epochs: int,
           device: torch.device) -> tuple[float, float, int]:
    """Train_ch8's loop (sequential batches, state carried within an epoch); returns (seconds, CPU seconds, tokens).

    CPU seconds: this process's, all threads; on a machine others share they move far less than the wall clock."""
    rng = random.Random(cfg.seed)
    n_tokens, start, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(epochs):
        state = None
        for X, Y in batches(tokens, cfg.batch_size, cfg.num_steps, False, rng):
            if state is None:
                state = begin_state(X.shape[0])
            loss, state = step(X.to(device), Y.to(device), state)
            if not math.isfinite(loss):
                raise RuntimeError("the benchmark's training diverged")
            n_tokens += Y.numel()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu, n_tokens


def scratch_model(vocab_size: int, cfg: TrainConfig, device: torch.device) -> GRUScratch:
    """A fresh scratch GRU from the run's seed, so every path starts from the same parameters."""
    return GRUScratch(vocab_size, cfg.hidden, generator=torch.Generator().manual_seed(cfg.seed)).to(device)


def runners_for(vocab_size: int, cfg: TrainConfig, device: torch.device,
             baseline: object = None) -> dict[str, Callable[[], tuple]]:
    """Each runner makes a fresh model from the same seed and returns (model, step, begin_state). The fast path
    appears once per set of loops that runs these shapes here, as "fast (<loops>)" (`fast.LOOPS`); `baseline`,
    another build of the kernel, as "fast (cpp baseline)"."""

    def scratch(step_fn):
        def make():
            model = scratch_model(vocab_size, cfg, device)
            return model, (lambda X, Y, s: step_fn(model, X, Y, s, cfg.lr, cfg.clip, FREE)), (
                lambda b: model.begin_state(b, device))
        return make

    def fast(loops, ext=None):
        return lambda m, X, Y, s, lr, clip, f: run_step(m, X, Y, s, lr, clip, f, loops=loops, ext=ext)

    def concise():
        torch.manual_seed(cfg.seed)
        net = ConciseGRU(vocab_size, cfg.hidden).to(device)
        return net, (lambda X, Y, s: concise_step(net, X, Y, s, cfg.lr, cfg.clip)), (
            lambda b: torch.zeros((1, b, cfg.hidden), device=device))

    runners = {"textbook": scratch(textbook_step)}
    for loops in fast_loops(device, vocab_size, cfg):
        runners[f"fast ({loops})"] = scratch(fast(loops))
    if baseline is not None:
        runners["fast (cpp baseline)"] = scratch(fast(None, baseline))
    return {**runners, "nn.GRU": concise}


def fast_loops(device: torch.device, vocab_size: int, cfg: TrainConfig) -> list[str]:
    """The fast path's sets of loops that run these shapes here (float32), the textbook aside."""
    shapes = Shapes(device.type, "float32", vocab_size, cfg.batch_size, cfg.hidden, torch.get_num_threads())
    return [n for n in ("torch-rows", "torch-fm", "cpp") if why_not(n, shapes) is None]


def bench_choice(device: torch.device, vocab_size: int, cfg: TrainConfig):
    """What `choose_loops` picks for the bench's run (calibrated here, as a run would be), for its header."""
    return choose_loops(device, torch.float32, vocab_size, cfg.batch_size, cfg.hidden, steps=cfg.num_steps)


def max_relative_difference(a: GRUScratch, b: GRUScratch) -> float:
    """max over parameters of max|a - b| / max|b|: 1e-5 means agreement to about five significant digits."""
    worst = 0.0
    for name in PARAM_NAMES:
        x, ref = getattr(a, name).detach().double(), getattr(b, name).detach().double()
        worst = max(worst, float((x - ref).abs().max()) / max(float(ref.abs().max()), 1e-30))
    return worst


def measure(runners: dict[str, Callable[[], tuple]], tokens: list[int], cfg: TrainConfig, device: torch.device,
             reps: int) -> tuple[dict[str, dict], dict[str, nn.Module]]:
    """Alternating repetitions of every runner on the same batches: tokens/s per path (printed) and the models
    each path trained in its first repetition (for the equality check)."""
    for make in runners.values():  # warm-up: first-call costs (BLAS init, loading the extension) are not timed
        _, step, begin = make()
        X, Y = next(iter(batches(tokens, cfg.batch_size, cfg.num_steps, False, random.Random(0))))
        step(X.to(device), Y.to(device), begin(X.shape[0]))

    rates: dict[str, list[float]] = {name: [] for name in runners}
    cpu_rates: dict[str, list[float]] = {name: [] for name in runners}
    trained: dict[str, nn.Module] = {}
    for rep in range(max(1, reps)):
        for name, make in runners.items():  # alternating, so drifting machine load hits every path alike
            model, step, begin = make()
            seconds, cpu_seconds, n_tokens = train_epochs(step, begin, tokens, cfg, cfg.epochs, device)
            rates[name].append(n_tokens / seconds)
            cpu_rates[name].append(n_tokens / max(cpu_seconds, 1e-9))
            if rep == 0:
                trained[name] = model

    base, cpu_base = statistics.median(rates["textbook"]), statistics.median(cpu_rates["textbook"])
    summary = {}
    for name, values in rates.items():
        med, cpu_med = statistics.median(values), statistics.median(cpu_rates[name])
        summary[name] = {"median": med, "min": min(values), "max": max(values), "ratio_to_textbook": med / base,
                         "per_cpu_second": cpu_med, "cpu_ratio_to_textbook": cpu_med / cpu_base}
        print(f"{name:>20}: {med:10,.0f} tokens/s (min {min(values):,.0f}, max {max(values):,.0f})  "
              f"{med / base:5.2f}x textbook;  per CPU second {cpu_med:10,.0f}  {cpu_med / cpu_base:5.2f}x")
    return summary, trained


def spread_tokens(tokens: list[int], base: int, vocab_size: int) -> list[int]:
    """The corpus's token stream (ids below `base`) spread over `vocab_size` ids, so that every row of a larger
    vocabulary's W_x* occurs: a stand-in for raw text with that many characters (throughput does not depend on
    which characters they are)."""
    copies = -(-vocab_size // base)
    return [(t + base * ((i * 7919) % copies)) % vocab_size for i, t in enumerate(tokens)]


def load_baseline(path: str) -> object:
    """Another build of the C++ kernel (its .so), to time beside this one; a clear error when it cannot load."""
    from pathlib import Path

    from gru_viz.fast.ext import _import

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: no such compiled kernel")
    return _import(p, p.stem)
