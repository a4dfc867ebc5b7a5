"""The bench's two reports: the paths side by side at d2l's vocabulary with the app's other times (run_bench), and
at larger vocabularies (run_vocab_bench, `--vocab-sizes 28,100,3000`). OMP_NUM_THREADS=1 measures one thread."""

from __future__ import annotations

import argparse
import json
import os

import torch

from gru_viz.bench.timings import (
    PARTIAL_STEPS,
    TRACE_REPS,
    cold_start_seconds,
    figure_timings,
    partial_units,
    race_timings,
    trace_timings,
)
from gru_viz.bench.training import (
    CHECK_RTOL,
    bench_choice,
    load_baseline,
    max_relative_difference,
    measure,
    runners_for,
    spread_tokens,
)
from gru_viz.data import load_corpus
from gru_viz.fast import build_state
from gru_viz.fast.choice import cpu_model
from gru_viz.fast.torch_rows import onednn_available
from gru_viz.train import TrainConfig, resolve_device


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
        runners = runners_for(V, cfg, device, baseline)
        summary, trained = measure(runners, tokens, cfg, device, args.reps)
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
    runners = runners_for(vocab_size, cfg, device, baseline)
    summary, trained = measure(runners, corpus.tokens, cfg, device, args.reps)
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

    race = race_timings(vocab_size, cfg, corpus.tokens, device, args.reps)
    print(f"race on the fast engine (the app's loops): GRU {race['gru_tokens_per_sec']:,.0f} tokens/s, plain RNN "
          f"(Z=0, R=1) {race['plain_rnn_tokens_per_sec']:,.0f}: the GRU takes "
          f"{race['plain_rnn_tokens_per_sec'] / race['gru_tokens_per_sec']:.2f}x as long per epoch")

    trace_loops = ["torch-rows"] + (["cpp"] if "fast (cpp)" in runners else [])
    traces = trace_timings(trained["textbook"], corpus, device, trace_loops)
    print(f"trace of {traces['probe_chars']} characters, median of {TRACE_REPS}: free, forced (R=1, Z=0), "
          f"partly forced (R=1 on units 0-{partial_units(cfg.hidden) - 1}, steps {PARTIAL_STEPS[0]}-"
          f"{PARTIAL_STEPS[1] - 1})")
    for name, key in [("trace_text (the app's)", "trace_text")] + [(f"  fast_trace {b}", f"fast_trace_{b}")
                                                                    for b in trace_loops]:
        times = ", ".join(f"{traces[f'{key}_{label}_ms']:.1f}" for label in ("free", "forced", "partial"))
        diffs = [traces.get(f"{key}_{label}_max_abs_diff", 0.0) for label in ("free", "forced", "partial")]
        print(f"{name}: {times} ms" + (f" (max |difference| to the textbook forward {max(diffs):.1e})"
                                       if key != "trace_text" else ""))
    app = figure_timings(trained["textbook"], corpus)
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
