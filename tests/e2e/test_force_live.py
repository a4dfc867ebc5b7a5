"""Tab ② in the browser (issue 33), in the real app: the controls and the probe answer in the page; the server
hears one settled setting; the numbers shown are Python's; a class question hides the forced results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.explain.inference import predict, text_perplexity
from gru_viz.nets.model import PRESETS, Forcing, GateForce
from gru_viz.ui.probe import probe_prefix

MODEL = Path(__file__).resolve().parents[2] / "assets" / "pretrained" / "epoch_0500.safetensors"
ROOT = ".gfc-host-root"


@pytest.fixture(scope="module")
def model():
    c = load_checkpoint(MODEL)
    return c.model.double(), c.vocab


def _open_force(app, query: str = "") -> list[int]:
    """Open ②; returns a counter of the frames the browser sends to the server (a rerun, a component's value)."""
    sent = [0]
    app.page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent.__setitem__(0, sent[0] + 1)))
    app.open("tab=force" + (f"&{query}" if query else ""))
    app.page.wait_for_selector(f"{ROOT} [data-testid='gv-ppl-free'][data-value]", timeout=90_000)
    app.page.wait_for_timeout(1200)  # nothing pending from the first load
    return sent


def _set_range(page, testid: str, value: float) -> None:
    """Move an <input type=range> as a person's drag does: set the value, fire `input`."""
    page.evaluate("""([id, v]) => { const e = document.querySelector(`[data-testid="${id}"]`);
        e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }""", [testid, value])


def _trace(app) -> dict:
    return app.page.evaluate("window.gruVizTrace()")


def _per_step(model, vocab, tr: dict, f: Forcing) -> float:
    """Python float64 from the browser's own H_{t−1}: the largest difference in R, Z, H̃, H, log-probabilities."""
    ids = vocab.encode(tr["text"])
    H = np.array(tr["H"])
    prev = np.vstack([np.zeros((1, model.hidden)), H[:-1]])
    worst = 0.0
    with torch.no_grad():
        for t, tok in enumerate(ids):
            logits, _, rec = model(torch.tensor([[tok]]), torch.from_numpy(prev[t : t + 1].copy()), f, record=True,
                                   start_step=t)
            for k, ours in (("R", rec.R), ("Z", rec.Z), ("H_tilde", rec.H_tilde), ("H", rec.H)):
                worst = max(worst, float(np.abs(ours[0, 0].numpy() - np.array(tr[k][t])).max()))
            lp = F.log_softmax(logits[0], 0).numpy()
            worst = max(worst, float(np.abs(lp - np.array(tr["logp"][t])).max()))
    return worst


def test_the_page_shows_pythons_numbers_for_presets_custom_forcing_and_strength(app, model):
    m, vocab = model
    _open_force(app)
    cases = [("free", None, PRESETS["free"])]
    for name in ("plain_rnn", "frozen_memory", "amnesia"):
        cases.append((name, None, PRESETS[name]))
    cases.append(("amnesia", 0.5, Forcing(PRESETS["amnesia"].reset, PRESETS["amnesia"].update, strength=0.5)))
    for preset, strength, f in cases:
        app.page.click(f"{ROOT} button[data-preset='{preset}']")
        _set_range(app.page, "gv-strength", 1.0 if strength is None else strength)
        app.page.wait_for_function("s => { const t = window.gruVizTrace(); return t && t.setting.preset === s[0] "
                                   "&& Math.abs(t.setting.f_strength - s[1]) < 1e-12; }",
                                   arg=[preset, 1.0 if strength is None else strength])
        app.page.wait_for_timeout(300)
        app.page.wait_for_function("() => window.gruVizTrace().cont_forced !== null")  # they come after the numbers
        tr = _trace(app)
        assert _per_step(m, vocab, tr, f) < 1e-12, preset
        ids = vocab.encode(tr["text"])
        shown = float(app.page.get_attribute(f"{ROOT} [data-testid='gv-ppl-forced']", "data-value"))
        if preset != "plain_rnn" or strength is not None:  # the full plain RNN is chaotic: per step only
            assert abs(shown - text_perplexity(m, ids, f)) < 1e-9, preset
            cont = app.page.get_attribute(f"{ROOT} [data-testid='gv-cont-forced']", "data-text")
            assert cont == predict(probe_prefix(tr["text"]), 80, m, vocab, f), preset
    # a custom forcing with a unit and a step range, set by its controls
    app.page.click(f"{ROOT} button[data-preset='custom']")
    _set_range(app.page, "gv-force-z", 0.9)
    app.page.fill(f"{ROOT} .gfc-units", "0-63, 200")
    app.page.check(f"{ROOT} .gfc-custom input[type=checkbox] >> nth=2")
    app.page.fill(f"{ROOT} .gfc-num >> nth=0", "5")
    app.page.fill(f"{ROOT} .gfc-num >> nth=1", "60")
    _set_range(app.page, "gv-strength", 0.7)
    app.page.wait_for_function("() => { const t = window.gruVizTrace(); return t && t.setting.f_strength === 0.7 "
                               "&& t.setting.f_steps_on && t.setting.f_steps[0] === 5 && t.setting.f_steps[1] === 60 "
                               "&& t.setting.f_units === '0-63, 200'; }")
    tr = _trace(app)
    f = Forcing(update=GateForce(0.9, units=(*range(64), 200), steps=(5, 61)), strength=0.7)
    assert tr["forcing"]["Z"] == {"value": 0.9, "units": [*range(64), 200], "steps": [5, 61]}
    assert tr["forcing"]["R"] is None
    assert _per_step(m, vocab, tr, f) < 1e-12
    assert _per_step(m, vocab, tr, Forcing(update=GateForce(0.9, units=(*range(64), 200), steps=(5, 60)),
                                           strength=0.7)) > 1e-6  # the check sees a step range off by one
    app.shot("force-live-custom")


def test_20_moves_of_z_and_20_typed_characters_rerun_once_each_after_they_settle(app, model):
    frames = _open_force(app)
    runs, sent = app.runs(), frames[0]
    before = _trace(app)
    for i in range(20):
        _set_range(app.page, "gv-force-z", round(0.05 * (i + 1), 2))
        app.page.wait_for_timeout(60)
    assert app.runs() == runs and frames[0] == sent, "the server heard a moving control"
    app.page.wait_for_function("n => window.__e2e.runs > n && window.__e2e.idle()", arg=runs)
    app.page.wait_for_timeout(1500)
    assert app.runs() == runs + 1, "more than one rerun after the control settled"
    app.wait_until(lambda: "fz_val=1" in app.page.url and "preset=custom" in app.page.url, "the setting in the URL")
    after = _trace(app)
    assert after["ppl_forced"] != before["ppl_forced"] and after["Z"] != before["Z"]
    painted = app.page.get_attribute(ROOT, "data-painted")

    runs, sent = app.runs(), frames[0]
    app.page.click(f"{ROOT} [data-testid='gv-probe']")
    app.page.keyboard.press("Control+Home")  # the probe is traced up to 500 characters: type at its start
    app.page.keyboard.type("the quick brown fox ", delay=60)
    assert app.runs() == runs and frames[0] == sent, "the server heard a keystroke"
    app.page.wait_for_function("n => window.__e2e.runs > n && window.__e2e.idle()", arg=runs)
    app.page.wait_for_timeout(1500)
    assert app.runs() == runs + 1
    typed = _trace(app)
    assert typed["steps"] != after["steps"] or typed["text"] != after["text"]
    assert app.page.get_attribute(ROOT, "data-painted") != painted
    assert app.page.input_value(f"{ROOT} [data-testid='gv-probe']").startswith("the quick brown fox ")
    assert typed["text"].startswith("the quick brown fox ")
    app.shot("force-live-typed")
