"""The README's lines for d2l notebooks, run against both editions' definitions (tests/d2l_editions.py): saving
after training gives a file the app reads as that model, and a checkpoint from here loads into each edition's
scratch and concise models with the same predictions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from d2l_editions import (
    D2L10_ORDER,
    GRU,
    RNNLM,
    GRUScratch,
    RNNLMScratch,
    RNNModel,
    RNNModelScratch,
    Vocab10,
    VocabSeed,
    d2l_module,
    gru,
    init_gru_state,
    predict_ch8,
)
from torch import nn
from torch.nn import functional as F

from gru_viz.checkpoints.checkpoint import checkpoint_bytes, load_checkpoint
from gru_viz.checkpoints.notebook import SEED_ORDER, load_notebook
from gru_viz.data import Vocab
from gru_viz.explain.inference import predict, trace_text
from gru_viz.nets.concise import from_torch

README = Path(__file__).resolve().parents[1] / "README.md"
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pretrained"


def readme_block(name: str) -> str:
    """The ```python block right after `<!-- notebook:NAME -->` in the README."""
    match = re.search(rf"<!-- notebook:{re.escape(name)} -->\n```python\n(.*?)```", README.read_text("utf-8"), re.S)
    assert match, f"README has no block {name}"
    return match.group(1)


def run_lines(names: list[str], **namespace) -> dict:
    ns = {"d2l": d2l_module(), "torch": torch, "nn": nn, "device": torch.device("cpu"), "gru": gru,
          "init_gru_state": init_gru_state, "GRUScratch": GRUScratch, **namespace}
    for name in names:
        exec(compile(readme_block(name), f"README:{name}", "exec"), ns)  # noqa: S102 (our own README's lines)
    return ns


@pytest.fixture()
def seed_vocab():
    return VocabSeed(SEED_ORDER)  # the seed edition's Vocab on The Time Machine: <unk> first, by frequency


def concise_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(7)
    g, lin = nn.GRU(28, 24), nn.Linear(24, 28)
    with torch.no_grad():
        for p in [*g.parameters(), *lin.parameters()]:
            p.mul_(5.0)
    path = tmp_path / "gru_viz.safetensors"
    path.write_bytes(checkpoint_bytes(from_torch(g, lin), Vocab(list(SEED_ORDER))))
    return path


@pytest.mark.parametrize("kind", ["scratch", "concise"])
@pytest.mark.parametrize("edition", ["seed", "d2l-1.0"])
def test_readme_take_home_lines_load_a_checkpoint_into_each_editions_model(kind, edition, tmp_path, monkeypatch):
    if kind == "scratch":
        (tmp_path / "gru_viz.safetensors").write_bytes((ASSETS / "epoch_0500.safetensors").read_bytes())
    else:
        concise_checkpoint(tmp_path)
    ours = load_checkpoint(tmp_path / "gru_viz.safetensors")
    monkeypatch.chdir(tmp_path)
    vocab = Vocab10("abcdefghijklmnopqrstuvwxyz ") if edition == "d2l-1.0" else VocabSeed(SEED_ORDER)
    key = "seed" if edition == "seed" else "d2l10"
    ns = run_lines(["home-read", f"home-{key}-{kind}"], vocab=vocab)
    model = ns["model"]
    prefix, n = "time traveller", 60
    with torch.no_grad():
        if edition == "seed":
            theirs = predict_ch8(prefix, n, model, vocab, torch.device("cpu"))
        else:
            theirs = model.predict(prefix, n, vocab)
    assert theirs == predict(prefix, n, ours.model, ours.vocab)
    # and the numbers: their logits over a text, in their vocabulary's order, against ours reordered
    text = "the reset gate decides how much of the past the candidate may read"
    tr = trace_text(ours.model, ours.vocab, text)
    ids = torch.tensor([[vocab.token_to_idx[c] for c in text]])
    with torch.no_grad():
        if edition == "seed":
            logits, _ = model(ids, model.begin_state(batch_size=1, device="cpu"))
        else:
            logits = model(ids)[0]
    to_ours = [vocab.token_to_idx[t] for t in ours.vocab.idx_to_token]
    # float32 sums over 256 units, in another order than the fast trace's: within a few 1e-6 of logits ~10
    assert np.allclose(logits.reshape(len(text), -1)[:, to_ours].numpy(), tr.logits, atol=2e-5, rtol=1e-6)
    if edition == "d2l-1.0":
        assert vocab.idx_to_token == list(D2L10_ORDER)  # a real permutation was exercised


def _seed_scratch(vocab_size=28, hidden=20):
    torch.manual_seed(3)

    def get_params(v, h, device):
        shapes = [(v, h), (h, h), (h,)] * 3 + [(h, v), (v,)]
        return [torch.randn(s, device=device) * 0.7 for s in shapes]

    return RNNModelScratch(vocab_size, hidden, torch.device("cpu"), get_params, init_gru_state, gru)


@pytest.mark.parametrize("case", ["seed-scratch", "seed-concise", "d2l10-scratch", "d2l10-concise"])
def test_readme_save_lines_give_a_file_the_app_reads_as_that_model(case, tmp_path, monkeypatch, seed_vocab):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(4)
    if case == "seed-scratch":
        model, vocab, block = _seed_scratch(), seed_vocab, "save-seed-scratch"
    elif case == "seed-concise":
        model, vocab, block = RNNModel(nn.GRU(28, 20), 28), seed_vocab, "save-state-dict"
    elif case == "d2l10-scratch":
        model, vocab, block = RNNLMScratch(GRUScratch(28, 20, sigma=0.7), 28), Vocab10("abcdefghijklmnopqrstuvwxyz "), \
            "save-state-dict"
    else:
        model, vocab, block = RNNLM(GRU(28, 20), 28), Vocab10("abcdefghijklmnopqrstuvwxyz "), "save-state-dict"
        model.linear(torch.zeros(1, 20))
    run_lines([block], model=model, vocab=vocab)
    nb = load_notebook((tmp_path / "gru.safetensors").read_bytes(), "gru.safetensors")
    assert nb.edition == "metadata"
    text = "a notebook model read by the app"
    tr = trace_text(nb.checkpoint.model, nb.checkpoint.vocab, text)
    ids = torch.tensor([[vocab.token_to_idx[c] for c in text]])
    with torch.no_grad():
        if case.startswith("seed"):
            state = model.begin_state(batch_size=1, device="cpu")
            logits = model(ids, state)[0]
        else:
            logits = model(ids)[0]
    to_ours = [vocab.token_to_idx[t] for t in nb.checkpoint.vocab.idx_to_token]
    assert np.allclose(logits.reshape(len(text), -1)[:, to_ours].numpy(), tr.logits, atol=1e-5, rtol=0)
    assert F.softmax(torch.from_numpy(tr.logits), 1).max() < 1  # a real distribution, compared above


@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_the_pages_d2l10_download_loads_with_load_state_dict_alone(kind, tmp_path):
    from safetensors.torch import load_file

    from gru_viz.checkpoints.notebook import notebook_bytes

    ours = load_checkpoint(ASSETS / "epoch_0500.safetensors" if kind == "scratch" else concise_checkpoint(tmp_path))
    path = tmp_path / "for_d2l10.safetensors"
    path.write_bytes(notebook_bytes(ours, "d2l-1.0"))
    vocab = Vocab10("abcdefghijklmnopqrstuvwxyz ")
    hidden = ours.model.hidden
    model = (RNNLMScratch(GRUScratch(28, hidden), 28) if kind == "scratch" else RNNLM(GRU(28, hidden), 28))
    model.load_state_dict(load_file(path))
    with torch.no_grad():
        assert model.predict("time traveller", 60, vocab) == predict("time traveller", 60, ours.model, ours.vocab)
