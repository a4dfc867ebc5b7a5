"""End-to-end: models from a d2l notebook uploaded in Chromium as a person would (a bare d2l 1.0 scratch file, a
concise nn.GRU state dict), then scrubbed with the keys and forced with a preset. Screenshots in artifacts/e2e/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gru_viz.checkpoint import load_checkpoint
from gru_viz.notebook import SEED_ORDER, notebook_bytes

pytestmark = pytest.mark.e2e

ROOT = "[data-testid='gruScrubber']"
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "pretrained"
STEP_JS = f"() => Number(document.querySelector(\"{ROOT} .gsc-done\")?.dataset.step ?? -1)"


def d2l10_file() -> bytes:
    """The bundled model under d2l 1.0's names and in its alphabetical order, with no metadata (a bare save)."""
    return st_save(st_load(notebook_bytes(load_checkpoint(ASSETS / "epoch_0500.safetensors"), "d2l-1.0")))


def concise_file() -> bytes:
    """A seed-edition RNNModel's state dict (nn.GRU inside), saved with the README's line."""
    torch.manual_seed(0)
    gru, lin = torch.nn.GRU(28, 32), torch.nn.Linear(32, 28)
    with torch.no_grad():
        for p in [*gru.parameters(), *lin.parameters()]:
            p.mul_(3.0)
    sd = {**{f"rnn.{k}": v for k, v in gru.state_dict().items()}, "linear.weight": lin.weight, "linear.bias": lin.bias}
    return st_save({k: v.detach().contiguous() for k, v in sd.items()}, metadata={"vocab": json.dumps(SEED_ORDER)})


def continuations(app) -> tuple[str, str]:
    boxes = app.main.locator("[style*='monospace']:visible")
    app.wait_until(lambda: boxes.count() == 2, "the free and forced continuations")
    return tuple(b.inner_text().replace("\u00a0", " ").strip() for b in boxes.all())


@pytest.mark.parametrize("kind", ["d2l10", "concise"])
def test_a_notebook_model_uploads_scrubs_and_forces(app, kind):
    app.open()
    sb = app.sidebar
    ckpt_up = sb.get_by_test_id("stFileUploader").filter(has_text="Inspect a checkpoint (.safetensors)")
    app.upload(ckpt_up, f"{kind}.safetensors", d2l10_file() if kind == "d2l10" else concise_file())
    if kind == "d2l10":
        note = sb.get_by_text(re.compile(r"Vocabulary assumed: d2l 1\.0 .*recognised"))
    else:
        note = sb.get_by_text(re.compile(r"Convention: PyTorch's nn\.GRU"))
    note.wait_for()
    app.assert_no_exception()
    app.shot("uploaded", show=note)
    app.page.wait_for_selector(f"{ROOT} .gsc-done[data-charts='1']", state="attached")
    app.page.evaluate("() => { document.activeElement?.blur(); }")
    for i in range(1, 6):
        app.page.keyboard.press("ArrowRight")
        app.wait_until(lambda i=i: app.page.evaluate(STEP_JS) == i, f"step {i}")
    app.shot("scrubbed")
    app.open_tab("② Force the gates")
    radio = app.main.get_by_test_id("stRadio").filter(has=app.page.get_by_text("Frozen memory (Z=1)", exact=True))
    app.choose_radio("Amnesia (R=0)", within=radio)
    free, forced = continuations(app)
    assert free != forced, "forcing R=0 changed nothing"
    app.shot("forced")
    app.assert_no_exception()
