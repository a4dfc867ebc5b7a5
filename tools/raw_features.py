"""The unit explorer's features on the bundled raw-character model (assets/pretrained_raw, trained on the Python
documentation): for each feature, the hidden unit whose state H best tracks it and its Pearson r. Prints Markdown
for docs/RAW.md; tests/test_raw_model.py holds the document to these numbers.

    python tools/raw_features.py [--checkpoint assets/pretrained_raw/epoch_0030.safetensors]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.data import offline_text
from gru_viz.explain.analysis import RAW_FEATURES, UnitMatch, correlations, raw_char_features
from gru_viz.explain.inference import trace_text

ROOT = Path(__file__).resolve().parents[1]
PROBE_CHARS, LONG_CHARS, PIECE = 500, 60_000, 10_000  # the app's probe length; a longer stretch, in pieces


def final_checkpoint() -> Path:
    return sorted((ROOT / "assets" / "pretrained_raw").glob("epoch_*.safetensors"))[-1]


def texts() -> dict[str, list[str]]:
    """The texts the numbers are measured on, each as the pieces traced from a zero state: the beginning of the
    docs as long as the app's probe, and the first 60,000 characters (the topics assert to binary: prose, grammar
    rules, code) in pieces of 10,000."""
    docs = offline_text()
    return {f"first {PROBE_CHARS} characters": [docs[:PROBE_CHARS]],
            f"first {LONG_CHARS:,} characters": [docs[i : i + PIECE] for i in range(0, LONG_CHARS, PIECE)]}


def best_units(model, vocab, pieces: list[str]) -> dict[str, UnitMatch]:
    """Feature -> the unit whose H correlates best with it over all pieces (absent: constant over them)."""
    H, feats = [], {name: [] for name in RAW_FEATURES}
    for piece in pieces:
        H.append(trace_text(model, vocab, piece).H)
        for name, values in raw_char_features(piece).items():
            feats[name].append(values)
    joined = {name: np.concatenate(v) for name, v in feats.items()}
    out = {}
    for name, r in correlations(np.concatenate(H), joined).items():
        if np.ptp(joined[name]) > 0:
            u = int(np.argmax(np.abs(r)))
            out[name] = UnitMatch(u, name, float(r[u]))
    return out


def report(path: Path) -> dict[str, dict[str, UnitMatch]]:
    """text label -> feature -> the best unit for it (features constant on a text are absent)."""
    ckpt = load_checkpoint(path)
    return {label: best_units(ckpt.model, ckpt.vocab, pieces) for label, pieces in texts().items()}


def markdown(result: dict[str, dict[str, UnitMatch]]) -> str:
    labels = list(result)
    lines = ["| feature | " + " | ".join(f"{label}: unit, r" for label in labels) + " |",
             "|---|" + "---|" * len(labels)]
    for name in RAW_FEATURES:
        cells = [f"{m.unit}, {m.r:+.2f}" if (m := result[label].get(name)) else "(constant here)" for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None)
    a = p.parse_args()
    path = a.checkpoint or final_checkpoint()
    print(f"{path.name}:\n")
    print(markdown(report(path)))


if __name__ == "__main__":
    main()
