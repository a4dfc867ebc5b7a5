"""A d2l notebook's files in the app (AppTest): a 1.0 file's vocabulary recognised and switched, an nn.GRU
scrubbed, forced and explained in its convention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.checkpoints.notebook import SEED_ORDER, notebook_bytes

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pretrained"


def no_errors(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


def scrub_R(app) -> np.ndarray:
    from gru_viz.views.scrub_payload import read_payload

    return read_payload(json.loads(app.get("bidi_component")[0].proto.json)["payload"])["R"]


def edition_radio(app):
    (radio,) = [r for r in app.sidebar.radio if r.key.startswith("upload_edition.")]
    return radio


def test_a_d2l10_file_loads_with_its_order_recognised_and_the_switch_changes_it(at):
    ckpt = load_checkpoint(ASSETS / "epoch_0500.safetensors")
    data = st_save(st_load(notebook_bytes(ckpt, "d2l-1.0")))  # 1.0's names and order, no metadata: a bare save
    at.file_uploader(key="upload_ckpt").upload("gru10.safetensors", data)
    at.run()
    no_errors(at)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Vocabulary assumed: d2l 1.0" in captions and "recognised" in captions
    assert "reset gate acts before the recurrent product" in captions
    assert edition_radio(at).value == "d2l-1.0"
    R_10 = scrub_R(at)
    edition_radio(at).set_value("seed").run()
    no_errors(at)
    assert "your choice" in " ".join(c.value for c in at.sidebar.caption)
    assert not np.array_equal(scrub_R(at), R_10)  # the other order reads other characters


def test_an_nn_gru_file_is_scrubbed_forced_and_named_in_its_convention(at, monkeypatch):
    torch.manual_seed(0)
    gru, lin = torch.nn.GRU(28, 32), torch.nn.Linear(32, 28)
    with torch.no_grad():
        for p in [*gru.parameters(), *lin.parameters()]:
            p.mul_(3.0)
    sd = {**{f"rnn.{k}": v for k, v in gru.state_dict().items()}, "linear.weight": lin.weight.detach(),
          "linear.bias": lin.bias.detach()}
    data = st_save({k: v.contiguous() for k, v in sd.items()}, metadata={"vocab": json.dumps(list(SEED_ORDER))})
    at.file_uploader(key="upload_ckpt").upload("concise.safetensors", data)
    at.run()
    no_errors(at)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "PyTorch's nn.GRU" in captions and "after the recurrent product" in captions
    assert at.session_state["inspect"] == "upload"
    bodies = [x.proto.body for x in at.get("latex")]
    assert bodies and all(r"\mathbf{W}_{hn}" in b for b in bodies), bodies  # nn.GRU's equations, not d2l's
    assert {"dl_nb_seed", "dl_nb_d2l-1.0"} <= {b.key for b in at.get("download_button")}
    R_free = scrub_R(at)
    assert R_free.shape[1] > 0 and not (R_free == R_free.flat[0]).all()
    monkeypatch.setenv("GRU_VIZ_LIVE_FORCE", "1")  # the page's default (tests/conftest.py keeps ② on the server)
    at.session_state["tab"] = "force"
    at.run()
    no_errors(at)
    # ② runs in the browser: its model arrives in PyTorch's layout (ui/scrubber/model_engine.js's "torch" convention)
    from gru_viz.views.model_payload import read_model_payload

    live = [json.loads(c.proto.json) for c in at.get("bidi_component") if '"model"' in c.proto.json]
    tensors, _, convention = read_model_payload(live[0]["model"])
    assert convention == "torch"
    assert np.array_equal(tensors["weight_hh"], gru.weight_hh_l0.detach().numpy())
    assert np.array_equal(tensors["linear_weight"], lin.weight.detach().numpy())
    at.session_state["preset"] = "plain_rnn"  # what the browser's preset buttons settle on
    at.session_state["tab"] = "scrub"
    at.run()
    no_errors(at)
    assert (scrub_R(at) == 1.0).all()
    at.session_state["tab"] = "gates"
    at.run()
    no_errors(at)


def test_every_new_string_is_in_both_languages_with_the_same_fields():
    import string

    from gru_viz.ui.i18n.en import EN
    from gru_viz.ui.i18n.zh import ZH

    prefixes = ("nb_", "edition_", "layout_", "convention_", "dl_nb_")
    keys = [k for k in EN if k.startswith(prefixes) or k == "upload_ckpt_help"]
    assert len(keys) >= 18
    for k in keys:
        fields = {f for _, f, _, _ in string.Formatter().parse(EN[k]) if f}
        assert k in ZH and fields == {f for _, f, _, _ in string.Formatter().parse(ZH[k]) if f}, k


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_untrained_bare_file_is_refused_in_the_pages_language_with_both_perplexities_then_chosen(at, lang):
    from gru_viz.checkpoints.notebook import FACTOR, load_notebook
    from gru_viz.ui.view import View

    torch.manual_seed(0)  # an untrained d2l 1.0 concise model saved bare: neither order reads English better
    gru, lin = torch.nn.GRU(28, 32), torch.nn.Linear(32, 28)
    sd = {**{f"rnn.rnn.{k}": v for k, v in gru.state_dict().items()}, "linear.weight": lin.weight.detach(),
          "linear.bias": lin.bias.detach()}
    data = st_save({k: v.contiguous() for k, v in sd.items()})
    ppl = load_notebook(data, "u", "seed").perplexity  # both orders are scored whichever is chosen
    at.session_state["lang"] = lang
    at.run()
    at.file_uploader(key="upload_ckpt").upload("untrained.safetensors", data)
    at.run()
    no_errors(at)
    want = View(lang).t("nb_order_unknown", name="untrained\\.safetensors", factor=FACTOR, seed=ppl["seed"],
                        d2l10=ppl["d2l-1.0"])
    assert [e.value for e in at.sidebar.error] == [want]  # the numbers the loader measured, in the page's words
    edition_radio(at).set_value("d2l-1.0").run()
    no_errors(at)
    assert not at.sidebar.error and at.session_state["inspect"] == "upload"
