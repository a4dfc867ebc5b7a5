"""The model's data contract for the browser (gru_viz/views/model_payload.py): exact weights, checks, refusals."""

from __future__ import annotations

import pytest
import torch

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.data import Vocab
from gru_viz.nets.model import GRUScratch
from gru_viz.nets.rnn import RNNScratch
from gru_viz.views.model_payload import ModelPayloadError, read_model_payload, scratch_payload, torch_gru_payload

VOCAB = Vocab(["<unk>", " ", "e", "t", "a"])


def test_weights_travel_exactly_as_stored_and_read_back():
    m = GRUScratch(len(VOCAB), 6, generator=torch.Generator().manual_seed(0))
    p = scratch_payload(m, VOCAB)
    assert p["dtype"] == "float32" and p["version"] == 1 and p["convention"] == "d2l"
    tensors, vocab, convention = read_model_payload(p)
    assert vocab == VOCAB and convention == "d2l"
    for name, t in m.params().items():
        assert torch.equal(torch.from_numpy(tensors[name]), t.detach().double())
    assert scratch_payload(m.double(), VOCAB)["dtype"] == "float64"


def test_torch_convention_keeps_pytorchs_layout():
    gru, lin = torch.nn.GRU(len(VOCAB), 4), torch.nn.Linear(4, len(VOCAB))
    tensors, _, convention = read_model_payload(torch_gru_payload(gru, lin, VOCAB))
    assert convention == "torch" and tensors["weight_ih"].shape == (12, 5) and tensors["linear_weight"].shape == (5, 4)
    assert torch.equal(torch.from_numpy(tensors["weight_hh"]), gru.weight_hh_l0.detach().double())


def test_mismatches_are_refused_with_the_reason():
    p = scratch_payload(GRUScratch(len(VOCAB), 3), VOCAB)
    for bad, why in (({**p, "version": 2}, "version"), ({**p, "kind": "x"}, "not a gru_viz"),
                     ({**p, "convention": "keras"}, "convention"), ({**p, "vocab_size": 4}, "size"),
                     ({**p, "dtype": "float16"}, "dtype"),
                     ({**p, "tokens": {**p["tokens"], "idx_to_token": ["a", "<unk>", "e", "t", " "]}}, "<unk>"),
                     ({**p, "tensors": {**p["tensors"], "b_q": {"shape": [5], "data": ""}}}, "b_q")):
        with pytest.raises(ModelPayloadError, match=why):
            read_model_payload(bad)


def test_a_plain_rnn_and_a_model_too_large_stay_on_the_server():
    with pytest.raises(ModelPayloadError, match="plain RNN"):
        scratch_payload(RNNScratch(len(VOCAB), 3), VOCAB)
    with pytest.raises(ModelPayloadError, match="MB"):
        scratch_payload(GRUScratch(len(VOCAB), 64), VOCAB, max_bytes=10_000)


def test_the_bundled_models_fit():
    for path in ("assets/pretrained/epoch_0500.safetensors", "assets/pretrained_raw/epoch_0030.safetensors"):
        c = load_checkpoint(path)
        assert read_model_payload(scratch_payload(c.model, c.vocab))[1] == c.vocab


def test_a_concise_model_travels_in_pytorchs_layout():
    from gru_viz.nets.concise import from_torch

    gru, lin = torch.nn.GRU(len(VOCAB), 4), torch.nn.Linear(4, len(VOCAB))
    tensors, _, convention = read_model_payload(scratch_payload(from_torch(gru, lin), VOCAB))
    assert convention == "torch"
    assert torch.equal(torch.from_numpy(tensors["linear_weight"]), lin.weight.detach().double())
    assert torch.equal(torch.from_numpy(tensors["weight_ih"]), gru.weight_ih_l0.detach().double())
