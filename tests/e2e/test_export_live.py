"""End-to-end: the HTML file the app's *Download this view* button gives (not one built by the test) opened from
file:// with the network off: typed text is re-traced and the strength is followed, to Python's float64 numbers;
nothing is fetched. (tests/e2e/test_model_worker.py proves the same of a file built with export_html directly.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import assert_nothing_fetched, open_offline

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.explain.inference import predict, text_perplexity
from gru_viz.nets.model import PRESETS, Forcing
from gru_viz.ui.probe import probe_prefix

pytestmark = pytest.mark.e2e
MODEL = Path(__file__).resolve().parents[2] / "assets" / "pretrained" / "epoch_0500.safetensors"
SCRUBBER = "[data-testid='gruScrubber']"
TYPED = " and the lamp went out"  # text written for this test


def _set_range(page, testid: str, value: float) -> None:
    """Move an <input type=range> as a drag does: set the value, fire `input`."""
    page.evaluate("""([id, v]) => { const e = document.querySelector(`[data-testid="${id}"]`);
        e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }""", [testid, value])


def test_the_downloaded_view_retraces_typed_text_and_follows_the_strength_offline(app, browser, tmp_path):
    app.open()
    app.page.wait_for_selector(f"{SCRUBBER} .gsc-done[data-charts='1']", state="attached")
    app.wait_idle()
    with app.page.expect_download() as info:
        app.main.get_by_role("button", name=re.compile("Download this view")).click()
    path = tmp_path / "view.html"
    info.value.save_as(path)
    opened = open_offline(browser, path)
    page = opened.page
    page.wait_for_selector("[data-testid='gv-ppl-free'][data-value]", timeout=60_000)
    stored = load_checkpoint(MODEL)
    model, vocab = stored.model.double(), stored.vocab
    probe = page.input_value("[data-testid='gv-probe']")
    assert probe  # the file carries the probe the page showed

    def ppl(testid: str) -> float:
        return float(page.get_attribute(f"[data-testid='{testid}']", "data-value"))

    page.click("[data-testid='gv-probe']")
    page.keyboard.press("End")
    page.keyboard.type(TYPED, delay=20)
    text = vocab.normalize(probe + TYPED)
    ids = vocab.encode(text)
    page.wait_for_function("n => window.gruVizTrace() && window.gruVizTrace().steps === n", arg=len(ids))
    assert abs(ppl("gv-ppl-free") - text_perplexity(model, ids)) < 1e-9  # re-traced in the file, offline
    page.click("button[data-preset='plain_rnn']")
    _set_range(page, "gv-strength", 0.5)
    f = Forcing(PRESETS["plain_rnn"].reset, PRESETS["plain_rnn"].update, strength=0.5)
    want = text_perplexity(model, ids, f)
    page.wait_for_function("w => Math.abs(window.gruVizTrace().ppl_forced - w) < 1e-9", arg=want)
    page.wait_for_function("() => window.gruVizTrace().cont_forced !== null")  # after the numbers, its own job
    assert page.get_attribute("[data-testid='gv-cont-forced']", "data-text") == predict(probe_prefix(text), 80, model,
                                                                                         vocab, f)
    page.wait_for_selector(".gfc-curve.js-plotly-plot", state="attached")
    assert page.locator(".gfc-curve").evaluate("e => e.data[1].x") == [0.5]  # the curve's marker follows too
    page.screenshot(path=str(app.shot("download-source").parent / "downloaded-view-live.png"))
    assert_nothing_fetched(opened)
    app.assert_no_exception()
