"""d2l's plain rnn_scratch: the forward against a hand loop and against the GRU forced to R=1, Z=0; training
(one step against autograd, a short run), checkpoints, the CLI flag and the bundled snapshots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import autograd_sgd_update, random_model

from gru_viz.checkpoints.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, save_checkpoint
from gru_viz.cli import main
from gru_viz.data import Vocab, make_corpus
from gru_viz.explain.inference import corpus_perplexity
from gru_viz.nets.model import PRESETS, Forcing, ForcingError, GRUScratch
from gru_viz.nets.rnn import RNN_PARAM_NAMES, RNNScratch, new_model, rnn_from_gru, rnn_from_params
from gru_viz.train import ConfigError, TrainConfig, Trainer, textbook_step

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "pretrained_rnn"
TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us " * 20
VOCAB = Vocab(["<unk>", " ", "a", "b", "c", "d"])


def _model(v=6, h=5, seed=0, scale=0.6) -> RNNScratch:
    return random_model(RNNScratch, v, h, seed, scale)


def test_init_is_d2ls_names_shapes_and_scale():
    m = RNNScratch(28, 512, generator=torch.Generator().manual_seed(0))
    shapes = {n: tuple(p.shape) for n, p in m.params().items()}
    assert shapes == {"W_xh": (28, 512), "W_hh": (512, 512), "b_h": (512,), "W_hq": (512, 28), "b_q": (28,)}
    assert list(m.params()) == list(RNN_PARAM_NAMES)
    assert not m.b_h.detach().any() and not m.b_q.detach().any()
    assert 0.009 < float(m.W_hh.detach().std()) < 0.011  # N(0, 0.01²)


def test_forward_equals_a_hand_loop_over_rows_of_W_xh():
    m = _model()
    X = torch.tensor([[1, 2, 0, 5], [3, 3, 4, 1]])
    H0 = torch.randn(2, 5)
    logits, state, trace = m(X, H0, record=True)
    H, want = H0, []
    for t in range(X.shape[1]):  # a one-hot row times W_xh is the token's row of W_xh
        H = torch.tanh(m.W_xh[X[:, t]] + H @ m.W_hh + m.b_h)
        want.append(H @ m.W_hq + m.b_q)
    torch.testing.assert_close(logits, torch.cat(want), rtol=1e-5, atol=1e-6)  # time-major, as d2l
    torch.testing.assert_close(state, H, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(trace.H[-1], H.detach(), rtol=1e-5, atol=1e-6)
    assert torch.equal(trace.H_tilde, trace.H) and float(trace.Z.abs().max()) == 0.0 and bool((trace.R == 1).all())
    torch.testing.assert_close(trace.H_prev[0], H0)


def test_the_plain_rnn_inside_a_gru_equals_the_gru_forced_to_r1_z0():
    g = torch.Generator().manual_seed(1)
    gru = GRUScratch(6, 5, generator=g)
    with torch.no_grad():
        for p in gru.params().values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6)
    X = torch.tensor([[1, 2, 0, 5, 4, 4, 3]])
    want, _, _ = gru(X, gru.begin_state(1), PRESETS["plain_rnn"])
    got, _, _ = rnn_from_gru(gru)(X, gru.begin_state(1))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_forcing_a_plain_rnn_is_refused_with_a_reason():
    with pytest.raises(ForcingError, match="no reset or update gate"):
        _model()(torch.tensor([[1, 2]]), torch.zeros(1, 5), PRESETS["frozen_memory"])


@pytest.mark.parametrize("clip", [1e-3, 1e3])  # clipping active and inactive
def test_textbook_step_on_the_rnn_is_clipped_sgd(clip):
    m = _model().double()
    X, Y = torch.randint(0, 6, (4, 5)), torch.randint(0, 6, (4, 5))
    state = torch.randn(4, 5, dtype=torch.float64)
    expected, norm, _ = autograd_sgd_update(m, X, Y, state, 0.7, clip, PRESETS["free"])
    assert (norm > clip) == (clip < 1)
    loss, new_state = textbook_step(m, X, Y, state, 0.7, clip, PRESETS["free"])
    assert math.isfinite(loss) and not new_state.requires_grad
    for n in RNN_PARAM_NAMES:
        torch.testing.assert_close(getattr(m, n).detach(), expected[n], rtol=1e-12, atol=1e-14)


def test_trainer_trains_the_rnn_and_perplexity_falls():
    corpus = make_corpus(TEXT, "small", max_tokens=0)
    cfg = TrainConfig(hidden=32, epochs=15, batch_size=4, num_steps=10, seed=0)
    model = new_model("rnn", len(corpus.vocab), cfg.hidden, cfg.seed)
    before = corpus_perplexity(model, corpus.tokens, 4, 10)
    t = Trainer(corpus.tokens, len(corpus.vocab), cfg, model=model, snapshot_epochs=(0, 15))
    t.run()
    assert t.status == "finished" and isinstance(t.model, RNNScratch)
    after = corpus_perplexity(t.model, corpus.tokens, 4, 10)
    assert after < 0.5 * before, (before, after)
    assert t.history[-1].perplexity < t.history[0].perplexity
    init = new_model("rnn", len(corpus.vocab), cfg.hidden, cfg.seed).params()
    for n in RNN_PARAM_NAMES:  # epoch 0 is the initialisation, epoch 15 the trained model
        torch.testing.assert_close(t.snapshots[0][n], init[n].detach())
        torch.testing.assert_close(t.snapshots[15][n], t.model.params()[n].detach())


@pytest.mark.parametrize("change", [{"engine": "fast"}, {"forcing": Forcing.gates(z=0.5)}])
def test_trainer_refuses_what_a_plain_rnn_cannot_do(change):
    corpus = make_corpus(TEXT, "small", max_tokens=0)
    cfg = TrainConfig(hidden=8, epochs=1, batch_size=4, num_steps=10, **change)
    with pytest.raises(ConfigError, match="plain RNN"):
        Trainer(corpus.tokens, len(corpus.vocab), cfg, model=new_model("rnn", len(corpus.vocab), 8, 0))


def test_new_model_gru_is_the_trainers_own_initialisation():
    corpus = make_corpus(TEXT, "small", max_tokens=0)
    cfg = TrainConfig(hidden=8, epochs=1, batch_size=4, num_steps=10, seed=3)
    default = Trainer(corpus.tokens, len(corpus.vocab), cfg).model.params()
    for n, p in new_model("gru", len(corpus.vocab), 8, 3).params().items():
        assert torch.equal(p, default[n])
    with pytest.raises(ValueError, match="architecture"):
        new_model("lstm", 6, 8, 0)


def test_rnn_checkpoint_round_trip(tmp_path):
    m = _model()
    path = save_checkpoint(tmp_path / "r.safetensors", m, VOCAB, {"hidden": 5}, [{"epoch": 1, "perplexity": 3.0}])
    ck = load_checkpoint(path)
    assert isinstance(ck.model, RNNScratch) and ck.meta["arch"] == "rnn"
    for n, p in m.params().items():
        assert torch.equal(ck.model.params()[n], p.detach())
    assert ck.vocab == VOCAB and ck.config == {"hidden": 5} and ck.history[0]["epoch"] == 1
    from_dict = load_checkpoint(checkpoint_bytes({n: p.detach() for n, p in m.params().items()}, VOCAB))
    assert isinstance(from_dict.model, RNNScratch)  # snapshots are plain dicts: the names tell the architecture


def test_a_gru_checkpoint_without_arch_is_still_a_gru():
    from safetensors.torch import save as st_save

    gru = GRUScratch(6, 5)
    data = checkpoint_bytes(gru, VOCAB)
    assert load_checkpoint(data).meta["arch"] == "gru"
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    del meta["arch"]  # files written before the plain RNN existed
    old = st_save({k: v.detach() for k, v in gru.params().items()}, metadata=meta)
    assert isinstance(load_checkpoint(old).model, GRUScratch)


def test_arch_and_tensors_must_agree():
    from safetensors.torch import save as st_save

    data = checkpoint_bytes(_model(), VOCAB)
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    rnn_tensors = {k: v.detach() for k, v in _model().params().items()}
    with pytest.raises(CheckpointError, match="tensors do not match the GRU's"):
        load_checkpoint(st_save(rnn_tensors, metadata={**meta, "arch": "gru"}))
    with pytest.raises(CheckpointError, match="unknown architecture 'lstm'"):
        load_checkpoint(st_save(rnn_tensors, metadata={**meta, "arch": "lstm"}))
    gru_tensors = {k: v.detach() for k, v in GRUScratch(6, 5).params().items()}
    with pytest.raises(CheckpointError, match="plain RNN's"):
        load_checkpoint(st_save(gru_tensors, metadata={**meta, "arch": "rnn"}))


def test_cli_trains_a_plain_rnn_with_an_initial_snapshot(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    code = main(["train", "--arch", "rnn", "--corpus", str(corpus), "--hidden", "16", "--epochs", "3",
                 "--batch-size", "4", "--num-steps", "8", "--snapshots", str(tmp_path / "s"),
                 "--snapshot-epochs", "0,2", "--json"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "epoch_0000.safetensors", "epoch_0002.safetensors", "epoch_0003.safetensors"]
    first = load_checkpoint(tmp_path / "s" / "epoch_0000.safetensors")
    assert isinstance(first.model, RNNScratch) and first.history == []
    assert main(["train", "--arch", "rnn", "--engine", "fast", "--corpus", str(corpus), "--epochs", "1"]) == 2
    assert "plain RNN" in capsys.readouterr().err


@pytest.mark.skipif(not BUNDLED.is_dir(), reason="no bundled plain-RNN snapshots")
def test_bundled_rnn_snapshots_are_d2ls_recipe():
    files = sorted(BUNDLED.glob("epoch_*.safetensors"))
    assert files and files[0].name == "epoch_0000.safetensors"
    assert sum(f.stat().st_size for f in files) < 6_000_000  # a few MB in the repository
    for f in files:
        ck = load_checkpoint(f)
        c = ck.config
        assert isinstance(ck.model, RNNScratch) and ck.model.hidden == 512
        assert (c["lr"], c["batch_size"], c["num_steps"], c["max_tokens"], c["random_iter"]) == (1.0, 32, 35, 10000,
                                                                                                  False)
    last = load_checkpoint(files[-1])
    assert last.config["epoch"] == 500 and last.history[-1]["perplexity"] < 1.5
    assert rnn_from_params(last.model.params()).hidden == 512


def test_a_header_of_640_bytes_is_not_mistaken_for_a_pickle():
    """Its length field starts with b"\\x80\\x02", pickle protocol 2's opening bytes (found on an RNN snapshot)."""
    m = _model()
    for pad in range(0, 600):
        data = checkpoint_bytes(m, VOCAB, extra={"pad": "x" * pad})
        if data[:2] == b"\x80\x02":
            break
    else:
        pytest.fail("no padding gave a 640-byte header")
    assert isinstance(load_checkpoint(data).model, RNNScratch)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(b"\x80\x02" + b"\x8a\x0alxxxxxxxxxxxxxxxxxx")
