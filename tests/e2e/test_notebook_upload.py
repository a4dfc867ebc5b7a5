"""End-to-end: models from a d2l notebook uploaded in Chromium as a person would (a bare seed-edition scratch file,
a bare d2l 1.0 scratch file, a torch.save file converted with `python -m gru_viz import`, a concise nn.GRU state
dict), then scrubbed with the keys and forced in ② (preset and strength, computed in the
browser in the model's own convention and checked against Python). Screenshots in artifacts/e2e/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.checkpoints.notebook import SEED_ORDER, load_any, notebook_bytes
from gru_viz.nets.model import PRESETS, Forcing

pytestmark = pytest.mark.e2e

ROOT = "[data-testid='gruScrubber']"
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "pretrained"
STEP_JS = f"() => Number(document.querySelector(\"{ROOT} .gsc-done\")?.dataset.step ?? -1)"


def seed_file() -> bytes:
    """The bundled model as the README's seed lines save `model.params`, without the metadata line (a bare save)."""
    return st_save(st_load(notebook_bytes(load_checkpoint(ASSETS / "epoch_0500.safetensors"), "seed")))


def imported_file(tmp: Path) -> bytes:
    """A d2l 1.0 state dict saved with torch.save, converted on the user's machine by `python -m gru_viz import`."""
    torch.save(dict(st_load(d2l10_file())), tmp / "gru.pt")
    subprocess.run([sys.executable, "-m", "gru_viz", "import", str(tmp / "gru.pt"), "--out", str(tmp / "gru.st")],
                   cwd=ASSETS.parents[1], check=True, capture_output=True, timeout=120)
    return (tmp / "gru.st").read_bytes()


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


def worst_step_difference(model, vocab, tr: dict, f) -> float:
    """Python float64 from the browser's own H_{t−1}: the largest difference in R, Z, H̃, H, log-probabilities."""
    from torch.nn import functional as F

    H = np.array(tr["H"])
    prev = np.vstack([np.zeros((1, model.hidden)), H[:-1]])
    worst = 0.0
    with torch.no_grad():
        for t, tok in enumerate(vocab.encode(tr["text"])):
            logits, _, rec = model(torch.tensor([[tok]]), torch.from_numpy(prev[t : t + 1].copy()), f, record=True,
                                   start_step=t)
            for k, ours in (("R", rec.R), ("Z", rec.Z), ("H_tilde", rec.H_tilde), ("H", rec.H)):
                worst = max(worst, float(np.abs(ours[0, 0].numpy() - np.array(tr[k][t])).max()))
            worst = max(worst, float(np.abs(F.log_softmax(logits[0], 0).numpy() - np.array(tr["logp"][t])).max()))
    return worst


NOTES = {"seed": r"Vocabulary assumed: seed edition .*recognised",
         "d2l10": r"Vocabulary assumed: d2l 1\.0 .*recognised",
         "imported": r"Convention: d2l's scratch GRU", "concise": r"Convention: PyTorch's nn\.GRU"}


@pytest.mark.parametrize("kind", ["seed", "d2l10", "imported", "concise"])
def test_a_notebook_model_uploads_scrubs_and_forces(app, kind, tmp_path):
    app.open()
    sb = app.sidebar
    ckpt_up = sb.get_by_test_id("stFileUploader").filter(has_text="Inspect a checkpoint (.safetensors)")
    data = {"seed": seed_file, "d2l10": d2l10_file, "concise": concise_file,
            "imported": lambda: imported_file(tmp_path)}[kind]()
    app.upload(ckpt_up, f"{kind}.safetensors", data)
    note = sb.get_by_text(re.compile(NOTES[kind]))
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
    live = ".gfc-host-root"
    app.page.wait_for_selector(f"{live} [data-testid='gv-ppl-free'][data-value]", timeout=90_000)
    # d2l's cell at strength < 1 is left to tests/e2e/test_force_live.py, which fails on main at afffe2f (its
    # per-step comparison is 11.8 off at amnesia, strength 0.5, while the perplexity agrees with Python's)
    strength = 0.5 if kind == "concise" else 1.0
    app.page.click(f"{live} button[data-preset='amnesia']")
    app.page.evaluate("""s => { const e = document.querySelector('[data-testid="gv-strength"]');
        e.value = s; e.dispatchEvent(new Event('input', {bubbles: true})); }""", strength)
    app.page.wait_for_function("s => { const t = window.gruVizTrace(); return t && t.setting.preset === 'amnesia' "
                               "&& Math.abs(t.setting.f_strength - s) < 1e-12; }", arg=strength)
    app.page.wait_for_timeout(300)
    tr = app.page.evaluate("window.gruVizTrace()")
    ckpt = load_any(data, "x")[0]
    forcing = Forcing(PRESETS["amnesia"].reset, PRESETS["amnesia"].update, strength=strength)
    # the browser computes the model's own convention (PyTorch's for the nn.GRU) to float64 rounding
    assert worst_step_difference(ckpt.model.double(), ckpt.vocab, tr, forcing) < 1e-12
    app.shot("forced")
    app.assert_no_exception()
