"""The bundled raw-character model (assets/pretrained_raw): small, loadable with its tokenisation, and the
numbers docs/RAW.md reports about its units are what tools/raw_features.py computes on it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gru_viz.checkpoints.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets" / "pretrained_raw"
sys.path.insert(0, str(ROOT / "tools"))


def test_bundled_raw_snapshots_are_small_raw_checkpoints():
    files = sorted(ASSETS.glob("epoch_*.safetensors"))
    assert len(files) >= 2 and sum(f.stat().st_size for f in files) < 4_000_000
    for f in files:
        ckpt = load_checkpoint(f)
        assert ckpt.vocab.mode == "raw" and {'"', "(", "\n", "A", "3"} <= set(ckpt.vocab.idx_to_token)
        assert ckpt.config["tokens"] == "raw" and ckpt.config["corpus"].startswith("Python documentation")


def _documented() -> dict[str, dict[str, tuple[int, float] | None]]:
    """The table in docs/RAW.md: feature -> {column label: (unit, r) or None}."""
    text = (ROOT / "docs" / "RAW.md").read_text(encoding="utf-8")
    table = text.split("<!-- raw_features -->")[1].split("<!-- /raw_features -->")[0].strip().splitlines()
    labels = [c.split(":")[0].strip() for c in table[0].strip("|").split("|")[1:]]
    out = {}
    for row in table[2:]:
        name, *cells = (c.strip() for c in row.strip("|").split("|"))
        parsed = [None if "constant" in c else (int(c.split(",")[0]), float(c.split(",")[1])) for c in cells]
        out[name] = dict(zip(labels, parsed, strict=True))
    return out


def test_docs_report_the_best_unit_of_every_feature_as_computed():
    from raw_features import final_checkpoint, report

    computed = report(final_checkpoint())
    documented = _documented()
    for label, by_feature in computed.items():
        short = label.split(":")[0]
        for name, cells in documented.items():
            m, doc = by_feature.get(name), cells[short]
            if doc is None:
                assert m is None, (label, name)
            else:
                assert m is not None and m.unit == doc[0] and m.r == pytest.approx(doc[1], abs=0.006), (label, name)


def test_docs_claims_follow_the_table():
    """The prose's strongest and weakest features are the table's, so no sentence overstates a number."""
    text = (ROOT / "docs" / "RAW.md").read_text(encoding="utf-8")
    for claim in re.findall(r"\|r\| = (0\.\d\d) \(([a-z ]+)\)", text):
        value, feature = float(claim[0]), claim[1]
        documented = [c for c in _documented()[feature].values() if c]
        assert any(abs(abs(r) - value) < 0.006 for _, r in documented), claim
