"""d2l's train_ch8 semantics: clipped SGD updates against autograd, state handling, control, divergence."""

from __future__ import annotations

import json
import math
import threading
import time

import pytest
import torch
from helpers import autograd_sgd_update, wait_for

from gru_viz import train as train_mod
from gru_viz.data import make_corpus
from gru_viz.nets.model import PARAM_NAMES, PRESETS, Forcing, GateForce, GRUScratch
from gru_viz.train import ConfigError, TrainConfig, Trainer, grad_clipping, perplexity, resolve_device, textbook_step

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us " * 20


@pytest.fixture(scope="module")
def small():
    return make_corpus(TEXT, "small", max_tokens=0)


@pytest.mark.parametrize("clip", [1e-3, 1e3])  # clipping active and inactive
@pytest.mark.parametrize("forcing", ["free", "plain_rnn"])
def test_textbook_step_is_clipped_sgd(clip, forcing):
    torch.manual_seed(0)
    m = GRUScratch(6, 8).double()
    with torch.no_grad():
        for p in m.params().values():
            p.normal_(0, 0.3)
    X, Y = torch.randint(0, 6, (4, 5)), torch.randint(0, 6, (4, 5))
    state = torch.randn(4, 8, dtype=torch.float64)
    expected, norm, _ = autograd_sgd_update(m, X, Y, state, 0.7, clip, PRESETS[forcing])
    assert (norm > clip) == (clip < 1)
    loss, new_state = textbook_step(m, X, Y, state, 0.7, clip, PRESETS[forcing])
    assert math.isfinite(loss) and not new_state.requires_grad
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(m, n).detach(), expected[n], rtol=1e-12, atol=1e-14)


def test_grad_clipping_bounds_global_norm():
    ps = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    ps[0].grad, ps[1].grad = torch.tensor([3.0, 0, 0]), torch.tensor([0.0, 4.0])
    assert grad_clipping(ps, 1.0) == pytest.approx(5.0)
    assert math.sqrt(sum(float((p.grad**2).sum()) for p in ps)) == pytest.approx(1.0)
    torch.testing.assert_close(ps[0].grad, torch.tensor([0.6, 0, 0]))


def test_every_engine_the_settings_accept_has_a_step_and_no_other():
    assert tuple(train_mod.ENGINES) == train_mod.ENGINE_NAMES
    for name in train_mod.ENGINE_NAMES:
        assert TrainConfig(engine=name).engine == name
    with pytest.raises(ConfigError, match="engine must be one of textbook, fast"):
        TrainConfig(engine="turbo")


def _spy(monkeypatch):
    seen = []
    real = train_mod.ENGINES["textbook"]

    def spy(model, X, Y, state, lr, clip, forcing):
        seen.append(state.clone())
        loss, new = real(model, X, Y, state, lr, clip, forcing)
        seen.append(new.clone())
        return loss, new

    monkeypatch.setitem(train_mod.ENGINES, "textbook", spy)
    return seen


def test_sequential_carries_state_random_restarts(monkeypatch, small):
    seen = _spy(monkeypatch)
    Trainer(small.tokens, len(small.vocab), TrainConfig(hidden=8, epochs=1, batch_size=4, num_steps=10)).run()
    ins, outs = seen[0::2], seen[1::2]
    assert len(ins) > 2 and torch.count_nonzero(ins[0]) == 0
    for prev_out, nxt_in in zip(outs, ins[1:]):
        assert torch.equal(prev_out, nxt_in)  # detached but carried
    seen.clear()
    Trainer(small.tokens, len(small.vocab), TrainConfig(hidden=8, epochs=1, batch_size=4, num_steps=10,
                                                        random_iter=True)).run()
    assert all(torch.count_nonzero(s) == 0 for s in seen[0::2])


def test_training_learns_and_reports(small):
    reports = []
    cfg = TrainConfig(hidden=32, epochs=30, batch_size=8, num_steps=10, seed=1)
    t = Trainer(small.tokens, len(small.vocab), cfg, callback=reports.append, snapshot_epochs=(1, 10))
    t.run()
    assert t.status == "finished" and len(reports) == 30
    assert reports[-1].perplexity < reports[0].perplexity / 2
    assert sorted(t.snapshots) == [1, 10, 30]
    assert [h.epoch for h in t.history] == list(range(1, 31))
    assert all(r.tokens_per_sec > 0 for r in reports)
    # same seed, same batches, same result
    t2 = Trainer(small.tokens, len(small.vocab), cfg)
    t2.run()
    for n in PARAM_NAMES:
        assert torch.equal(getattr(t.model, n), getattr(t2.model, n))


def test_pause_resume_stop_from_another_thread(small):
    cfg = TrainConfig(hidden=16, epochs=100_000, batch_size=4, num_steps=10)
    t = Trainer(small.tokens, len(small.vocab), cfg)
    worker = threading.Thread(target=t.run)
    worker.start()
    assert wait_for(lambda: t.epoch >= 2, 30.0)  # bounded: a hung trainer fails the test instead of the suite
    t.pause()
    assert t.status == "paused"
    time.sleep(0.2)
    frozen = t.epoch
    time.sleep(0.3)
    assert t.epoch <= frozen + 1  # at most the epoch in flight finishes its current batch
    t.resume()
    assert wait_for(lambda: t.epoch >= frozen + 3, 30.0)
    t.stop()
    worker.join(timeout=1.0)
    assert not worker.is_alive() and t.status == "stopped"


def test_divergence_restores_last_good_model(small):
    cfg = TrainConfig(hidden=32, epochs=50, batch_size=4, num_steps=10, lr=1e6, clip=1e6)
    t = Trainer(small.tokens, len(small.vocab), cfg)
    t.run()
    assert t.status == "diverged" and "lower the learning rate" in t.message
    good = t.latest_params()
    for n in PARAM_NAMES:
        assert torch.isfinite(getattr(t.model, n)).all()
        assert torch.equal(getattr(t.model, n).detach(), good[n])
    assert all(math.isfinite(h.perplexity) for h in t.history)


def test_perplexity_never_overflows():
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.inf and perplexity(float("nan")) == math.inf


def test_bad_settings_are_refused(small):
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig(lr=-1)
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ConfigError, match="hidden"):
        TrainConfig(hidden=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TrainConfig(forcing=Forcing.gates(z=1.5))
    with pytest.raises(ConfigError, match="below the hidden size"):
        TrainConfig(hidden=8, forcing=Forcing(update=GateForce(0.0, units=(3, 9))))
    with pytest.raises(ConfigError, match="needs at least 1156"):
        Trainer(list(range(100)), 28, TrainConfig())
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert TrainConfig.from_dict({**TrainConfig(hidden=8).to_dict(), "corpus": "x"}).hidden == 8


def test_config_round_trips_a_forcing_with_units_and_steps_and_reads_old_checkpoints():
    forcing = Forcing(update=GateForce(0.0, units=tuple(range(10)), steps=(5, 21)), reset=GateForce(1.0))
    cfg = TrainConfig(hidden=16, forcing=forcing)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # as checkpoint metadata stores it
    assert again == cfg and again.forcing == forcing
    old = {**TrainConfig().to_dict(), "force_r": None, "force_z": 0.5}  # written before forcing was a field
    del old["forcing"]
    assert TrainConfig.from_dict(old).forcing == Forcing.gates(z=0.5)
