"""Where each set of the fast path's loops wins on this machine: ms a training step over hidden x vocabulary x batch,
the sets alternating side by side in one process (three rounds, medians), one thread as the app trains; and the
figures of docs/BENCHMARKS.md's first table: d2l's run from the seed's code to today's, alternating in fresh
processes (the issue's check among them: `--engine fast` with the kernel built against the PyTorch loops forced).

    python tools/loops_grid.py --out grid.md          # the grid (about 10 minutes on a loaded 2-core box)
    python tools/loops_grid.py --today 3 --epochs 10  # three alternating CLI runs of each
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gru_viz.fast import choice, step  # noqa: E402

HIDDEN, VOCAB, BATCH = (32, 64, 128, 256, 512), (28, 256, 3000), (8, 32, 128)


def cell(hidden: int, vocab: int, batch: int, rounds: int, steps: int) -> dict:
    """Median ms a step of every set that runs these shapes here, alternating round by round."""
    shapes = choice.Shapes("cpu", "float32", vocab, batch, hidden, torch.get_num_threads())
    # the textbook is left out of the app's choice on CPU (why_not says why), but the grid times it: it is the
    # baseline of every ratio
    names = [n for n in choice.LOOPS if n == "textbook" or choice.why_not(n, shapes) is None]
    measure = step.step_timer(shapes)
    for n in names:
        measure(n, 1)  # warm-up: TorchScript, buffers
    ms: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            ms[n].append(measure(n, steps) * 1e3 / steps)
    med = {n: statistics.median(v) for n, v in ms.items()}
    ranked = sorted(med, key=med.get)
    return {"hidden": hidden, "vocab": vocab, "batch": batch, "ms": med, "winner": ranked[0],
            "margin": med[ranked[1]] / med[ranked[0]] if len(ranked) > 1 else float("nan")}


def table(rows: list[dict]) -> str:
    cols = ("textbook", "torch-rows", "torch-fm", "cpp")
    lines = ["| hidden | vocab | batch | " + " | ".join(f"{c} ms" for c in cols) + " | fastest | margin over the next "
             "| fastest ÷ textbook |", "|---:|---:|---:|" + "---:|" * len(cols) + "---|---:|---:|"]
    for r in rows:
        vals = " | ".join(f"{r['ms'][c]:.1f}" if c in r["ms"] else "–" for c in cols)
        lines.append(f"| {r['hidden']} | {r['vocab']:,} | {r['batch']} | {vals} | **{r['winner']}** | "
                     f"{r['margin']:.2f}x | {r['ms']['textbook'] / r['ms'][r['winner']]:.2f}x |")
    return "\n".join(lines)


SEED = "6257ca6"  # the repository's first commit: d2l's code as the project started from it
BOOK = ROOT.parent / "shared" / "data" / "timemachine.txt"


def _seed_tree() -> Path:
    """The seed commit's package, extracted once into a temporary folder (read-only use)."""
    where = Path(tempfile.gettempdir()) / f"gru_viz_seed_{SEED}"
    if not (where / "gru_viz").is_dir():
        where.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", SEED, "gru_viz"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def today(runs: int, epochs: int) -> list[dict]:
    """d2l's run (`train --json`, hidden 256, batch 32, 35 steps, the book's first 10,000 characters) in fresh
    processes, alternating: the seed's code (its textbook engine; it had no fast one), today's textbook, today's
    fast engine with the loops chosen here (the kernel built) and with the PyTorch loops forced. One untimed epoch
    of each first (the fast engine's calibration happens there, once, and is cached). Tokens/s over the run's wall
    time."""
    seed = _seed_tree()
    variants = [("seed textbook", seed, "textbook", {}),  # the seed had no fast engine yet
                ("textbook", ROOT, "textbook", {}), ("fast (kernel built)", ROOT, "fast", {}),
                ("fast (PyTorch forced)", ROOT, "fast", {"GRU_VIZ_FAST_BACKEND": "torch"})]
    out = []
    for i in range(runs + 1):
        for label, tree, engine, extra in variants:
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree), **extra}
            proc = subprocess.run([sys.executable, "-m", "gru_viz", "train", "--engine", engine, "--epochs",
                                   str(epochs if i else 1), "--corpus", str(BOOK), "--json"], cwd=tree, env=env,
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if i == 0:
                continue
            row = {"run": i, "variant": label, "tokens_per_sec": r["tokens_per_sec"], "loops": r.get("loops", ""),
                   "reason": r.get("loops_reason", ""), "perplexity": r["perplexity"]}
            out.append(row)
            print(f"run {i} {label:>22}: {row['tokens_per_sec']:9,.0f} tokens/s {row['loops']} "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for label, *_ in variants:
        rates = [r["tokens_per_sec"] for r in out if r["variant"] == label]
        each = ", ".join(f"{x:,.0f}" for x in rates)
        print(f"{label:>22}: median {statistics.median(rates):9,.0f} tokens/s ({each})")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", default=",".join(map(str, HIDDEN)))
    p.add_argument("--vocab", default=",".join(map(str, VOCAB)))
    p.add_argument("--batch", default=",".join(map(str, BATCH)))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="steps a set runs in each round")
    p.add_argument("--out", type=Path, help="write the Markdown table here")
    p.add_argument("--json", type=Path, help="write the rows as JSON here")
    p.add_argument("--today", type=int, default=0, metavar="RUNS",
                   help="alternating CLI runs of d2l's run: the seed's code, today's textbook and fast engines")
    p.add_argument("--epochs", type=int, default=10, help="epochs of each --today run")
    a = p.parse_args()
    torch.set_num_threads(1)
    print(f"{choice.cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread, load average "
          f"{os.getloadavg()[0]:.2f} at {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    if a.today:
        rows = today(a.today, a.epochs)
        if a.json:
            a.json.write_text(json.dumps(rows, indent=1))
        return 0
    rows = []
    for h, v, b in itertools.product(*(map(int, s.split(",")) for s in (a.hidden, a.vocab, a.batch))):
        rows.append(cell(h, v, b, a.rounds, a.steps))
        r = rows[-1]
        print(f"h {h:4} V {v:5} B {b:4}: " + ", ".join(f"{n} {ms:.1f}" for n, ms in sorted(r["ms"].items(),
                                                                                          key=lambda kv: kv[1]))
              + f" ms; load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    md = table(rows)
    print(md)
    if a.out:
        a.out.write_text(md + "\n")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
