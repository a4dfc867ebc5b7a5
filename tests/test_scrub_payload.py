"""The browser scrubber's payload: sizes within the issue's limits, the quantisation error within its stated bound,
and every value the browser shows read back from it as the model computed it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.explain.inference import trace_text
from gru_viz.nets.model import PRESETS
from gru_viz.views.figures import units_to_show
from gru_viz.views.scrub_payload import (
    GATE_RANGE,
    STATE_RANGE,
    TOP_K,
    dequantize,
    max_error,
    quantize,
    read_payload,
    scrub_payload,
)

ROOT = Path(__file__).resolve().parents[1]
# 500 characters of English the bundled model has seen the like of (no file from ../shared needed)
PROBE = ("the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us "
         "his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 3


@pytest.fixture(scope="module")
def bundled():
    ckpt = load_checkpoint(ROOT / "assets" / "pretrained" / "epoch_0500.safetensors")
    return ckpt.model, ckpt.vocab


@pytest.fixture(scope="module")
def trace(bundled):
    model, vocab = bundled
    tr = trace_text(model, vocab, PROBE[:500], normalize=False)
    assert tr.H.shape == (500, 256)
    return tr


def _json_bytes(payload: dict) -> int:
    return len(json.dumps(payload).encode("utf-8"))


def test_payload_of_a_500_character_probe_fits_1_mb_with_32_units_and_4_mb_with_all_256(trace, bundled):
    from gru_viz.explain.attribution import attribution
    from gru_viz.views.scrub_payload import attribution_data

    model, vocab = bundled
    # the largest case: a forcing, so the forced and the free model's attribution both travel
    forced = attribution(model, trace.tokens, PRESETS["amnesia"])
    att = attribution_data(forced, attribution(model, trace.tokens))
    default = scrub_payload(trace, vocab.idx_to_token, units_to_show("active", trace.Z), att)
    everything = scrub_payload(trace, vocab.idx_to_token, None, att)
    print(f"[bytes] 500 characters, 32 units with two attributions: {_json_bytes(default)}")
    assert len(default["units"]) == 32 and len(everything["units"]) == 256
    assert _json_bytes(default) <= 1_000_000
    assert _json_bytes(everything) <= 4_000_000


def test_quantisation_error_stays_within_the_stated_bound():
    assert max_error(0.0, 1.0, 8) == pytest.approx(1 / 510)  # the figure for 8-bit gates
    rng = np.random.default_rng(0)
    for lo, hi in (GATE_RANGE, STATE_RANGE):
        x = np.concatenate([rng.uniform(lo, hi, 100_000), [lo, hi, (lo + hi) / 2]])
        for bits in (8, 16):
            err = np.abs(dequantize(quantize(x, lo, hi, bits), lo, hi, bits) - x).max()
            assert err <= max_error(lo, hi, bits) * (1 + 1e-9)
            assert err > max_error(lo, hi, bits) * 0.9  # the bound is tight, not a loose guess
    assert (quantize(np.array([-3.0, 3.0]), 0.0, 1.0) == [0, 65535]).all()  # outliers clip, never wrap


@pytest.mark.parametrize("preset", ["free", "plain_rnn", "frozen_memory", "amnesia"])
def test_browser_reads_back_every_value_of_the_trace_within_the_bound(bundled, preset):
    model, vocab = bundled
    tr = trace_text(model, vocab, PROBE[:200], PRESETS[preset], normalize=False)
    rows = units_to_show("active", tr.Z)
    back = read_payload(scrub_payload(tr, vocab.idx_to_token, rows))
    gate_bound, state_bound = max_error(*GATE_RANGE), max_error(*STATE_RANGE)
    for name, bound in (("R", gate_bound), ("Z", gate_bound), ("H_tilde", state_bound), ("H", state_bound),
                        ("H_prev", state_bound)):
        err = np.abs(back[name] - getattr(tr, name)[:, rows]).max()
        assert err <= bound * (1 + 1e-6), f"{name}: {err} > {bound}"
    # the top characters and their probabilities, as the model ranks them
    order = np.argsort(-tr.probs, axis=1, kind="stable")[:, :TOP_K]
    assert (back["top_idx"] == order).all()
    assert np.abs(back["top_p"] - np.take_along_axis(tr.probs, order, axis=1)).max() <= max_error(0.0, 1.0) * 1.01


def test_forced_gates_arrive_exactly(bundled):
    model, vocab = bundled
    tr = trace_text(model, vocab, PROBE[:100], PRESETS["plain_rnn"], normalize=False)
    back = read_payload(scrub_payload(tr, vocab.idx_to_token, [0, 5, 255]))
    assert (back["Z"] == 0.0).all() and (back["R"] == 1.0).all()


def test_payload_identity_follows_its_content(trace, bundled):
    _, vocab = bundled
    a = scrub_payload(trace, vocab.idx_to_token, [1, 2, 3])
    assert scrub_payload(trace, vocab.idx_to_token, [1, 2, 3])["id"] == a["id"]
    assert scrub_payload(trace, vocab.idx_to_token, [1, 2, 4])["id"] != a["id"]
    assert json.loads(json.dumps(a)) == a  # plain JSON, nothing numpy left in it


@pytest.mark.parametrize("units", [[], [-1], [256]])
def test_units_outside_the_model_are_refused(trace, bundled, units):
    with pytest.raises(ValueError, match="units must lie in 0-255"):
        scrub_payload(trace, bundled[1].idx_to_token, units)


def test_payload_module_imports_neither_streamlit_nor_plotly():
    code = ("import sys, gru_viz.views.scrub_payload, gru_viz.views.export_html; "
            "bad = [m for m in ('streamlit', 'plotly') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("preset", ["free", "amnesia"])
def test_cell_diagram_numbers_equal_the_trace_at_three_decimals(bundled, preset):
    from gru_viz.views.cell_figure import wire_values

    model, vocab = bundled
    tr = trace_text(model, vocab, PROBE[:120], PRESETS[preset], normalize=False)
    rows = units_to_show("active", tr.Z)
    back = read_payload(scrub_payload(tr, vocab.idx_to_token, rows))
    exact = {"R": tr.R[:, rows], "Z": tr.Z[:, rows], "H_tilde": tr.H_tilde[:, rows], "H": tr.H[:, rows],
             "H_prev": tr.H_prev[:, rows]}
    for t in (0, 1, 57, 119):
        for row in (0, 7, len(rows) - 1):
            shown, true = wire_values(back, t, row), wire_values(exact, t, row)
            assert shown.keys() == {"hp", "r", "z", "ht", "omz", "h"}
            for key in shown:  # what the diagram prints (3 decimals) is the trace's value to 3 decimals
                assert abs(shown[key] - true[key]) <= max_error(*STATE_RANGE) * 1.01
                assert abs(round(shown[key], 3) - true[key]) <= 0.0005 + 2e-5


def test_characters_that_would_not_show_travel_with_how_to_draw_them():
    """Raw text keeps line breaks and tabs: the browser draws them as data.visible_char says (↵ ⇥ ␣)."""
    from gru_viz.data import make_corpus

    text = "def f(x):\n\treturn x  # twice\n" * 40
    corpus = make_corpus(text, "code", 0, tokens="raw")
    model = __import__("gru_viz.nets.model", fromlist=["GRUScratch"]).GRUScratch(len(corpus.vocab), 8)
    tr = trace_text(model, corpus.vocab, text[:60], normalize=False)
    payload = scrub_payload(tr, corpus.vocab.idx_to_token)
    assert payload["visible"]["\n"] == "↵" and payload["visible"]["\t"] == "⇥" and payload["visible"][" "] == "␣"
    assert "x" not in payload["visible"]
