"""The race trains the GRU and its forced variants in lockstep on the same initial weights and batches."""

from __future__ import annotations

import torch

from gru_viz.data import make_corpus
from gru_viz.nets.model import PARAM_NAMES, GRUScratch
from gru_viz.serve.handle import RunHandle
from gru_viz.serve.worker import TrainingWorker
from gru_viz.train import TrainConfig, Trainer
from gru_viz.train.race import VARIANTS, Race

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter " * 12
CFG = TrainConfig(hidden=8, epochs=4, batch_size=4, num_steps=10, seed=3)


def test_same_start_same_batches_lockstep():
    c = make_corpus(TEXT, "t", max_tokens=0)
    init = GRUScratch(len(c.vocab), 8, generator=torch.Generator().manual_seed(3))
    race = Race(c.tokens, len(c.vocab), CFG)
    for t in race.trainers.values():
        for n in PARAM_NAMES:
            assert torch.equal(getattr(t.model, n), getattr(init, n))
    reports = []
    race.callback = reports.append
    race.run()
    assert race.status == "finished" and [r.epoch for r in reports] == [1, 2, 3, 4]
    hist = race.histories()
    assert set(hist) == set(VARIANTS) and all(len(h) == 4 for h in hist.values())
    # the plain RNN never computes its gates, so their weights never move
    rnn = race.trainers["plain_rnn"].model
    for n in ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r"):
        assert torch.equal(getattr(rnn, n), getattr(init, n))
    assert not torch.equal(rnn.W_hh, init.W_hh)
    # the free GRU of the race is exactly a GRU trained alone with the same settings
    alone = Trainer(c.tokens, len(c.vocab), CFG)
    alone.run()
    for n in PARAM_NAMES:
        assert torch.equal(getattr(alone.model, n), getattr(race.trainers["gru"].model, n))


def test_race_in_a_worker_reports_every_variant():
    c = make_corpus(TEXT, "t", max_tokens=0)
    w = TrainingWorker(c, CFG, race=True, sample_every=2)
    w.start()
    assert w.join(60)
    snap = w.progress()
    assert snap.status == "finished" and set(snap.curves) == set(VARIANTS)
    assert isinstance(snap.sample, dict) and set(snap.sample) == set(VARIANTS)
    assert all(s.startswith("time traveller") for s in snap.sample.values())


def test_a_trainer_and_a_race_are_both_run_handles_with_lanes():
    """The worker drives either through RunHandle alone: a Trainer is one lane under its name, a race one per
    variant, each lane with its own forcing."""
    c = make_corpus(TEXT, "t", max_tokens=0)
    race, alone = Race(c.tokens, len(c.vocab), CFG), Trainer(c.tokens, len(c.vocab), CFG, name="solo")
    assert isinstance(race, RunHandle) and isinstance(alone, RunHandle)
    assert alone.lanes() == {"solo": alone}
    assert list(race.lanes()) == list(VARIANTS)
    assert {name: t.config.forcing for name, t in race.lanes().items()} == VARIANTS
    assert race.lanes()["gru"] is race.lead
