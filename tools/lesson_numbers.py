"""The numbers behind the gradient-flow and memory-survival captions (docs/LESSONS.md), computed on the bundled
GRU (assets/pretrained) and plain RNN (assets/pretrained_rnn) snapshots. Prints Markdown.

    python tools/lesson_numbers.py [--rnn-dir assets/pretrained_rnn] [--windows 40]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.data import load_corpus, preprocess
from gru_viz.explain.analysis import gradient_flow_any, memory_survival, summarize_flow, survival_at
from gru_viz.explain.inference import trace_text
from gru_viz.nets.model import FREE, PRESETS
from gru_viz.nets.rnn import new_model

ROOT = Path(__file__).resolve().parents[1]
PROBE_START, PROBE_LEN, MAX_TARGET = "the time traveller for so", 120, 60  # as ui/tabs/scrub and ui/tabs/gates


def book_text() -> str:
    raw = load_corpus("timemachine").raw  # lines joined with spaces, as the app's default probe
    return preprocess(raw.replace("\n", " "))


def default_probe(text: str) -> str:
    start = max(0, text.find(PROBE_START))
    return text[start : start + 200].rsplit(" ", 1)[0][:PROBE_LEN]


def models(rnn_dir: Path) -> list[tuple[str, object, float | None]]:
    """(label, model, training perplexity at that epoch) for every snapshot, the GRU's initialisation first."""
    gru_files = sorted((ROOT / "assets" / "pretrained").glob("epoch_*.safetensors"))
    first = load_checkpoint(gru_files[0])
    cfg = first.config
    out: list[tuple[str, object, float | None]] = [
        ("GRU epoch 0 (re-created: seed 0)", new_model("gru", len(first.vocab), cfg["hidden"], cfg["seed"]), None)]
    for label, files in (("GRU", gru_files), ("RNN", sorted(rnn_dir.glob("epoch_*.safetensors")))):
        for f in files:
            ck = load_checkpoint(f)
            ppl = ck.history[-1]["perplexity"] if ck.history else None
            out.append((f"{label} epoch {ck.config['epoch']}", ck.model, ppl))
    return out


def flows(model, tokens: list[int], target: int) -> dict[str, np.ndarray]:
    if getattr(model, "arch", "gru") == "rnn":
        return {"trained RNN": gradient_flow_any(model, tokens, target)}
    return {"GRU free": gradient_flow_any(model, tokens, target),
            "GRU forced R=1,Z=0": gradient_flow_any(model, tokens, target, PRESETS["plain_rnn"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rnn-dir", type=Path, default=ROOT / "assets" / "pretrained_rnn")
    ap.add_argument("--windows", type=int, default=40, help="random 120-character windows for the spread")
    a = ap.parse_args()
    text = book_text()
    probe = default_probe(text)
    ckpt = load_checkpoint(sorted((ROOT / "assets" / "pretrained").glob("epoch_*.safetensors"))[0])
    vocab = ckpt.vocab
    tokens = vocab.encode(probe)
    target = min(len(tokens) - 2, MAX_TARGET)
    rng = random.Random(0)
    starts = [rng.randrange(0, len(text) - PROBE_LEN) for _ in range(a.windows)]
    print(f'Probe ({len(probe)} characters, target step t = {target}): "{probe}"\n')
    print("| model | train ppl | curve | ‖g‖ at t′=t | at t′=t−10 | at t′=t−30 | at t′=0 | ratio t′=0 / t′=t | "
          f"min … max | median ratio over {a.windows} windows [10 %, 90 %] |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    survival_rows = []
    for label, model, ppl in models(a.rnn_dir):
        window_flows: dict[str, list[float]] = {}
        for s in starts:
            w = vocab.encode(text[s : s + PROBE_LEN])
            for name, n in flows(model, w, MAX_TARGET).items():
                window_flows.setdefault(name, []).append(n[0] / n[-1])
        for name, n in flows(model, tokens, target).items():
            f = summarize_flow(n)
            spread = np.percentile(window_flows[name], [10, 50, 90])
            print(f"| {label} | {'' if ppl is None else f'{ppl:.2f}'} | {name} | {f.at_target:.2e} | "
                  f"{n[target - 10]:.2e} | {n[target - 30]:.2e} | {f.at_start:.2e} | {f.ratio:.1e} | "
                  f"{f.low:.1e} … {f.high:.1e} | {spread[1]:.1e} [{spread[0]:.1e}, {spread[2]:.1e}] |")
        if getattr(model, "arch", "gru") == "gru":
            stats = survival_at(memory_survival(trace_text(model, vocab, probe, FREE).Z.astype(np.float64), target))
            best = {d: [] for d in stats}  # the best unit's ∏Z in each window
            for s in starts:
                z = trace_text(model, vocab, text[s : s + PROBE_LEN], FREE).Z.astype(np.float64)
                for d, row in survival_at(memory_survival(z, MAX_TARGET), tuple(stats)).items():
                    best[d].append(row["max"])
            survival_rows.append((label, stats, {d: float(np.median(v)) for d, v in best.items()}))
    print("\n| GRU model | distance | mean ∏Z | 10 % | median | 90 % | max | units > 1 % | "
          f"max, median over {a.windows} windows |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, stats, best in survival_rows:
        for d, s in stats.items():
            print(f"| {label} | {d} | {s['mean']:.1e} | {s['p10']:.1e} | {s['median']:.1e} | {s['p90']:.1e} | "
                  f"{s['max']:.1e} | {s['above_1pct']:.1%} | {best[d]:.1e} |")


if __name__ == "__main__":
    main()
