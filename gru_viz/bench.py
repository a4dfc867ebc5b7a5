"""`python -m gru_viz bench`: the textbook step, the fast step on every set of loops that runs here (`fast.LOOPS`)
and torch.nn.GRU on the same batches, side by side; checks that the fast paths train to the textbook's parameters
and times traces of a 1,000-character probe. `--vocab-sizes 28,100,3000` repeats the training comparison for
larger vocabularies (raw characters). OMP_NUM_THREADS=1 measures one thread, as each training run in the app.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from gru_viz.data import batches, load_corpus, preprocess
from gru_viz.fast import build_state, choose_loops, fast_trace, run_step
from gru_viz.fast.choice import Shapes, cpu_model, why_not
from gru_viz.fast.torch_rows import onednn_available
from gru_viz.inference import trace_text
from gru_viz.model import FREE, PARAM_NAMES, PRESETS, Forcing, GateForce, GRUScratch
from gru_viz.train import TrainConfig, clipped_sgd, resolve_device, textbook_step

CHECK_RTOL = 1e-5
PROBE_CHARS = 1000
TRACE_REPS = 7


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


def _train(step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[float, torch.Tensor]],
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


def _scratch_model(vocab_size: int, cfg: TrainConfig, device: torch.device) -> GRUScratch:
    return GRUScratch(vocab_size, cfg.hidden, generator=torch.Generator().manual_seed(cfg.seed)).to(device)


def _runners(vocab_size: int, cfg: TrainConfig, device: torch.device,
             baseline: object = None) -> dict[str, Callable[[], tuple]]:
    """Each runner makes a fresh model from the same seed and returns (model, step, begin_state). The fast path
    appears once per set of loops that runs these shapes here, as "fast (<loops>)" (`fast.LOOPS`); `baseline`,
    another build of the kernel, as "fast (cpp baseline)"."""

    def scratch(step_fn):
        def make():
            model = _scratch_model(vocab_size, cfg, device)
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


def _probe(text: str) -> str:
    """A 1,000-character window of the normalised corpus that normalises to itself (no edge spaces)."""
    for start in range(max(1, len(text) - PROBE_CHARS)):
        window = text[start : start + PROBE_CHARS]
        if preprocess(window) == window:
            return window
    return preprocess(text)[:PROBE_CHARS]


def _median_ms(fn: Callable[[], object], reps: int = TRACE_REPS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _race_timings(vocab_size: int, cfg: TrainConfig, tokens: list[int], device: torch.device,
                  reps: int) -> dict[str, float]:
    """Lesson 2's question, as the app's race answers it: tokens/s of the GRU and of its plain-RNN variant
    (Z=0, R=1) on the fast engine with the loops the app would choose, alternating, medians of `reps`."""
    rates: dict[str, list[float]] = {"gru": [], "plain_rnn": []}
    for _ in range(max(1, reps)):
        for key, forcing in (("gru", FREE), ("plain_rnn", PRESETS["plain_rnn"])):
            model = _scratch_model(vocab_size, cfg, device)
            seconds, _, n = _train(lambda X, Y, s, f=forcing, m=model: run_step(m, X, Y, s, cfg.lr, cfg.clip, f),
                                   lambda b, m=model: m.begin_state(b, device), tokens, cfg, cfg.epochs, device)
            rates[key].append(n / seconds)
    return {f"{key}_tokens_per_sec": statistics.median(v) for key, v in rates.items()}


PARTIAL_STEPS = (100, 600)


def partial_units(hidden: int) -> int:
    return min(32, hidden)


def partial_forcing(hidden: int) -> Forcing:
    """A lesson's forcing: R=1 on some units for part of the text (every gate forced costs no product at all)."""
    return Forcing(reset=GateForce(1.0, units=tuple(range(partial_units(hidden))), steps=PARTIAL_STEPS))


def _trace_timings(model: GRUScratch, corpus, device: torch.device, loops: list[str]) -> dict[str, float]:
    probe = _probe(corpus.text)
    ids = torch.tensor([corpus.vocab.encode(probe)], device=device)
    out: dict[str, float] = {"probe_chars": len(probe)}
    forcings = (("free", FREE), ("forced", Forcing.gates(r=1.0, z=0.0)), ("partial", partial_forcing(model.hidden)))
    for label, forcing in forcings:
        out[f"trace_text_{label}_ms"] = _median_ms(lambda f=forcing: trace_text(model, corpus.vocab, probe, f))
        with torch.no_grad():
            _, _, ref = model(ids, model.begin_state(1, device), forcing, record=True)
        for b in loops:
            out[f"fast_trace_{b}_{label}_ms"] = _median_ms(lambda f=forcing, b=b: fast_trace(model, ids, f, loops=b))
            fast = fast_trace(model, ids, forcing, loops=b)
            out[f"fast_trace_{b}_{label}_max_abs_diff"] = max(
                float((getattr(fast, k) - getattr(ref, k)).abs().max()) for k in ("R", "Z", "H_tilde", "H", "logits"))
    return out


def _figure_timings(model: GRUScratch, corpus) -> dict[str, float]:
    """The scrubber's three figures for a 1,000-character probe (all units): build time and bytes per step."""
    from gru_viz import figures

    probe = _probe(corpus.text)
    tr = trace_text(model, corpus.vocab, probe)
    t = len(probe) // 2

    def build(units=None) -> int:
        """Bytes of JSON the three figures of one step come to (what Streamlit sends at every step)."""
        return sum(len(fig.to_json()) for fig in (
            figures.gate_heatmaps(tr.R, tr.Z, tr.text, t, units),
            figures.state_mix_figure(tr.H_prev[t], tr.H_tilde[t], tr.H[t], tr.Z[t], units),
            figures.topk_figure(tr.probs[t], corpus.vocab.idx_to_token)))

    return {"figures_ms": _median_ms(build), "step_kb_all_units": build() / 1e3,
            "step_kb_active_units": build(figures.units_to_show("active", tr.Z)) / 1e3}


def cold_start_seconds(timeout: float = 300) -> float:
    """The app's cold start to its first charts: a fresh Python process running the page once headless (imports,
    bundled models, first trace, the scrubber's data for the browser); NaN when it failed."""
    import subprocess
    import sys

    script = ("import time; t = time.perf_counter(); from streamlit.testing.v1 import AppTest; "
              "at = AppTest.from_file('streamlit_app.py', default_timeout=120); at.run(); "
              "assert not at.exception and at.get('bidi_component'); print(time.perf_counter() - t)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "GRU_VIZ_BUILD_EXT": "0"}
    try:
        proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                              timeout=timeout, env=env)
        return float(proc.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return float("nan")


def _measure(runners: dict[str, Callable[[], tuple]], tokens: list[int], cfg: TrainConfig, device: torch.device,
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
            seconds, cpu_seconds, n_tokens = _train(step, begin, tokens, cfg, cfg.epochs, device)
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


def run_vocab_bench(args: argparse.Namespace) -> int:
    """Training tokens/s of every path for each vocabulary size, side by side, with the equality check."""
    device = resolve_device(args.device)
    corpus = load_corpus(args.corpus)
    cfg = TrainConfig(hidden=args.hidden, epochs=max(1, args.epochs))
    baseline = load_baseline(args.compare_ext) if getattr(args, "compare_ext", None) else None
    base = len(corpus.vocab)
    print(f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.2f}; fast path loops {bench_choice(device, base, cfg).loops}")
    print(f"hidden {cfg.hidden}, batch {cfg.batch_size}, {cfg.num_steps} steps, {cfg.epochs} epochs x {args.reps} "
          f"reps per path; {len(corpus.tokens)} tokens of {corpus.name}, spread over V ids where V > {base}")
    results, ok = {}, True
    for V in args.vocab_sizes:
        tokens = corpus.tokens if V == base else spread_tokens(corpus.tokens, base, V)
        print(f"-- V = {V:,}")
        runners = _runners(V, cfg, device, baseline)
        summary, trained = _measure(runners, tokens, cfg, device, args.reps)
        check = {}
        for name in (n for n in runners if n.startswith("fast")):
            diff = max_relative_difference(trained[name], trained["textbook"])
            check[name] = {"max_relative_difference": diff, "pass": diff <= CHECK_RTOL}
            ok = ok and diff <= CHECK_RTOL
            print(f"   {name} vs textbook parameters: max relative difference {diff:.2e} "
                  f"({'PASS' if diff <= CHECK_RTOL else 'FAIL'})")
        results[V] = {"tokens_per_sec": summary, "check": check}
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "hidden": cfg.hidden, "epochs": cfg.epochs, "reps": args.reps,
                          "vocab_sizes": results, "pass": ok}))
    return 0 if ok else 1


def run_bench(args: argparse.Namespace) -> int:
    """Alternating repetitions of the paths; prints tokens/s, ratios, the equality checks and trace times.

    args.cold_start (default True) also times the app's cold start in a fresh process (about 5-10 s)."""
    device = resolve_device(args.device)
    corpus = load_corpus(args.corpus)
    cfg = TrainConfig(hidden=args.hidden, epochs=max(1, args.epochs))
    vocab_size = len(corpus.vocab)
    state = build_state(bench_choice(device, vocab_size, cfg))
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": str(device), "loops": state.loops, "loops_reason": state.reason,
            "kernel": state.build, "onednn": onednn_available(), "hidden": cfg.hidden,
            "batch_size": cfg.batch_size, "num_steps": cfg.num_steps, "epochs": cfg.epochs, "reps": args.reps,
            "corpus": corpus.name, "tokens": len(corpus.tokens), "load_average": os.getloadavg()[0]}
    print(f"{info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads), "
          f"device {device}, load average {info['load_average']:.2f}")
    print(f"fast path loops: {state.loops} ({state.reason}); {state.build}; PyTorch loops: "
          f"{'oneDNN' if info['onednn'] else 'BLAS'} products")
    print(f"hidden {cfg.hidden}, batch {cfg.batch_size}, {cfg.num_steps} steps, lr {cfg.lr}, clip {cfg.clip}, "
          f"{cfg.epochs} epochs x {args.reps} reps per path, corpus {corpus.name} ({len(corpus.tokens)} tokens)")

    baseline = load_baseline(args.compare_ext) if getattr(args, "compare_ext", None) else None
    runners = _runners(vocab_size, cfg, device, baseline)
    summary, trained = _measure(runners, corpus.tokens, cfg, device, args.reps)
    fast_names = [n for n in runners if n.startswith("fast")]
    for name in fast_names:
        print(f"{name} / nn.GRU: {summary[name]['median'] / summary['nn.GRU']['median']:.2f}x")

    check = {}
    for name in fast_names:
        diff = max_relative_difference(trained[name], trained["textbook"])
        check[name] = {"max_relative_difference": diff, "limit": CHECK_RTOL, "pass": diff <= CHECK_RTOL}
        print(f"{name} vs textbook parameters after {cfg.epochs} epochs from the same init: max relative "
              f"difference {diff:.2e} (limit {CHECK_RTOL:.0e}): {'PASS' if diff <= CHECK_RTOL else 'FAIL'}")
    ok = all(c["pass"] for c in check.values())

    race = _race_timings(vocab_size, cfg, corpus.tokens, device, args.reps)
    print(f"race on the fast engine (the app's loops): GRU {race['gru_tokens_per_sec']:,.0f} tokens/s, plain RNN "
          f"(Z=0, R=1) {race['plain_rnn_tokens_per_sec']:,.0f}: the GRU takes "
          f"{race['plain_rnn_tokens_per_sec'] / race['gru_tokens_per_sec']:.2f}x as long per epoch")

    trace_loops = ["torch-rows"] + (["cpp"] if "fast (cpp)" in runners else [])
    traces = _trace_timings(trained["textbook"], corpus, device, trace_loops)
    print(f"trace of {traces['probe_chars']} characters, median of {TRACE_REPS}: free, forced (R=1, Z=0), "
          f"partly forced (R=1 on units 0-{partial_units(cfg.hidden) - 1}, steps {PARTIAL_STEPS[0]}-"
          f"{PARTIAL_STEPS[1] - 1})")
    for name, key in [("trace_text (the app's)", "trace_text")] + [(f"  fast_trace {b}", f"fast_trace_{b}")
                                                                    for b in trace_loops]:
        times = ", ".join(f"{traces[f'{key}_{label}_ms']:.1f}" for label in ("free", "forced", "partial"))
        diffs = [traces.get(f"{key}_{label}_max_abs_diff", 0.0) for label in ("free", "forced", "partial")]
        print(f"{name}: {times} ms" + (f" (max |difference| to the textbook forward {max(diffs):.1e})"
                                       if key != "trace_text" else ""))
    app = _figure_timings(trained["textbook"], corpus)
    print(f"scrubber figures for {traces['probe_chars']} characters (build + JSON), median of {TRACE_REPS}: "
          f"{app['figures_ms']:.0f} ms; one scrub step sends {app['step_kb_active_units']:.0f} kB of figures "
          f"with the 32 most active units (the default) and {app['step_kb_all_units']:.0f} kB with all {cfg.hidden}")
    if getattr(args, "cold_start", True):
        app["cold_start_s"] = cold_start_seconds()
        print(f"app cold start to first charts (fresh process, headless): {app['cold_start_s']:.1f} s")
    if args.json:
        print(json.dumps({**info, "tokens_per_sec": summary, "check": check, "pass": ok, "race": race, "trace": traces,
                          "app": app}))
    return 0 if ok else 1
