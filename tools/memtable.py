"""Measure a training run's peak memory (resident set growth) in a fresh process, over a grid of settings.

`python tools/memtable.py` prints docs/LOADTEST.md's "Memory per run" table (settings, measured peak, the
estimate of gru_viz.serve.budget, memory left after the run and after release_memory) and, with --json, the rows.
`python tools/memtable.py --one '{"hidden": 64, ...}'` measures one run and prints one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from any directory
DEFAULTS = {"hidden": 256, "batch_size": 32, "num_steps": 35, "tokens": 200_000, "engine": "fast", "loops": "cpp",
            "variants": 1, "epochs": 1, "threads": 1}


def child(settings: dict) -> dict:
    """Runs inside the fresh process: warm up, reset the peak, train like the app's worker (a thread), measure."""
    import gc
    import threading

    import torch

    from gru_viz.data import load_corpus
    from gru_viz.serve import budget
    from gru_viz.train import TrainConfig, Trainer
    from gru_viz.train.race import VARIANTS, Race

    s = {**DEFAULTS, **settings}
    torch.set_num_threads(s["threads"])
    loops = None
    if s["engine"] == "fast":  # measure() set GRU_VIZ_FAST_BACKEND to the loops asked for
        from gru_viz.fast import choose_loops

        loops = choose_loops("cpu", torch.float32, 28, s["batch_size"], s["hidden"], steps=s["num_steps"]).loops
        if loops != s["loops"]:
            raise SystemExit(f"asked for loops {s['loops']}, have {loops}")
    corpus = load_corpus("offline", s["tokens"])

    def train(cfg: TrainConfig, variants: int) -> object:
        snaps = (1, 5, 10, 20, 50, 100, 250, 500)
        if variants > 1:
            chosen = dict(list(VARIANTS.items())[:variants])
            return Race(corpus.tokens, len(corpus.vocab), cfg, variants=chosen, snapshot_epochs=snaps)
        return Trainer(corpus.tokens, len(corpus.vocab), cfg, snapshot_epochs=snaps)

    warm = TrainConfig(hidden=8, batch_size=2, num_steps=5, epochs=1, engine=s["engine"], device="cpu")
    train(warm, 1).run()  # first-use costs (BLAS, OpenMP, the kernel) that a running server has already paid
    gc.collect()
    budget.release_memory()
    before = budget.process_rss()
    exact = budget.reset_peak_rss()
    cfg = TrainConfig(hidden=s["hidden"], batch_size=s["batch_size"], num_steps=s["num_steps"], epochs=s["epochs"],
                      max_tokens=s["tokens"], engine=s["engine"], device="cpu")
    start = time.perf_counter()
    run = train(cfg, s["variants"])
    thread = threading.Thread(target=run.run)  # the worker builds the trainer in the session, runs it in a thread
    thread.start()
    thread.join()
    seconds = time.perf_counter() - start
    peak = budget.peak_rss() - before
    del run
    gc.collect()
    after = budget.process_rss() - before
    released = budget.release_memory()
    after_release = budget.process_rss() - before
    estimate = budget.estimate_run_bytes(s["hidden"], s["batch_size"], s["num_steps"], len(corpus.vocab),
                                         len(corpus.tokens), s["engine"], s["variants"], loops=loops)
    return {**s, "loops": loops, "vocab": len(corpus.vocab), "tokens": len(corpus.tokens), "peak_exact": exact,
            "rss_before_mb": before / 2**20, "peak_mb": peak / 2**20, "estimate_mb": estimate / 2**20,
            "held_after_mb": after / 2**20, "held_after_release_mb": after_release / 2**20,
            "release_ran": released, "seconds": seconds}


def measure(settings: dict, timeout: float = 1800) -> dict:
    """One run in a fresh Python process, on the loops asked for (GRU_VIZ_FAST_BACKEND)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRU_VIZ_BUILD_EXT": "0",
           "GRU_VIZ_FAST_BACKEND": settings.get("loops", DEFAULTS["loops"])}
    with tempfile.TemporaryDirectory():
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(settings)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement failed for {settings}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def grid(quick: bool) -> list[dict]:
    paths = [{"engine": "textbook"}, {"engine": "fast", "loops": "cpp"}, {"engine": "fast", "loops": "torch-fm"}]
    shapes = [(64, 32, 35), (256, 32, 35), (512, 32, 35), (256, 256, 35), (256, 32, 200), (512, 256, 200)]
    if quick:
        shapes = [(64, 32, 35), (512, 256, 200)]
    rows = [{**p, "hidden": h, "batch_size": b, "num_steps": t} for p, (h, b, t) in itertools.product(paths, shapes)]
    rows += [{**p, "hidden": 64, "batch_size": 32, "num_steps": 35, "tokens": 10_000} for p in paths]
    rows += [{**p, "hidden": 512, "batch_size": 256, "num_steps": 200, "variants": 4} for p in paths[:2]]
    rows += [{**p, "hidden": 512, "batch_size": 256, "num_steps": 200, "epochs": 3} for p in paths[:2]]
    return rows


def table(rows: list[dict]) -> str:
    """The Markdown table of docs/LOADTEST.md (MB are MiB; the estimate is gru_viz.serve.budget's, for each row)."""
    lines = ["| path | hidden | batch | steps | tokens | variants | epochs | peak MB | estimate MB | peak / estimate "
             "| held after MB | after release MB |", "|---|" + "---:|" * 11]
    for r in rows:
        path = "textbook" if r["engine"] == "textbook" else f"fast, {r['loops']}"
        lines.append(f"| {path} | {r['hidden']} | {r['batch_size']} | {r['num_steps']} | {r['tokens']:,} | "
                     f"{r['variants']} | {r['epochs']} | {r['peak_mb']:.0f} | {r['estimate_mb']:.0f} | "
                     f"{r['peak_mb'] / r['estimate_mb']:.2f} | {r['held_after_mb']:.0f} | "
                     f"{r['held_after_release_mb']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", metavar="JSON", help="measure one run in this process and print it as JSON")
    p.add_argument("--quick", action="store_true", help="the smallest and the largest settings only")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.one:
        print(json.dumps(child(json.loads(a.one))))
        return 0
    rows = []
    for settings in grid(a.quick):
        row = measure(settings)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(table(rows))
    if a.json:
        print(json.dumps(rows))
    return 0 if all(r["estimate_mb"] >= r["peak_mb"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
