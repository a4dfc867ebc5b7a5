"""The per-visitor training worker: queueing behind the global cap, stop/continue, lost sessions, failures."""

from __future__ import annotations

import re
import time

import pytest
from helpers import wait_for

from gru_viz import train as train_mod
from gru_viz.data import make_corpus
from gru_viz.serve.slots import TrainingSlots
from gru_viz.serve.worker import TrainingWorker, reap_unseen
from gru_viz.train import TrainConfig
from gru_viz.ui.state import UNSEEN_GRACE_S

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter " * 20
CFG = TrainConfig(hidden=8, epochs=12, batch_size=8, num_steps=10, engine="textbook")


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(TEXT, "small", max_tokens=0)


def test_runs_to_the_end_with_samples_and_snapshots(corpus):
    w = TrainingWorker(corpus, CFG, sample_every=5, label="mine")
    w.start()
    assert w.join(30)
    snap = w.progress()
    assert snap.status == "finished" and snap.epoch == 12 and len(snap.history) == 12
    assert list(snap.sample) == ["mine"] and list(snap.curves) == ["mine"]  # one lane, named by the run's label
    assert snap.sample["mine"].startswith("time traveller") and snap.sample_epoch == 12
    assert snap.snapshot_epochs == [1, 5, 10, 12]
    assert w.model(5).hidden == 8


def test_stop_then_continue_from_the_same_epoch(corpus):
    w = TrainingWorker(corpus, TrainConfig(hidden=8, epochs=400, batch_size=4, num_steps=10))
    w.start()
    assert wait_for(lambda: w.progress().epoch >= 3, 20.0)
    w.stop()
    assert w.join(1.0)  # stop takes effect within a second
    stopped_at = w.progress().epoch
    assert w.progress().status == "stopped" and w.can_continue
    w.restart()
    assert wait_for(lambda: w.progress().epoch >= stopped_at + 3, 20.0)
    w.stop()
    assert w.join(1.0)
    epochs = [h.epoch for h in w.progress().history]
    assert epochs == list(range(1, len(epochs) + 1))  # continued, not restarted
    tokens = [h.tokens for h in w.progress().history]
    assert tokens == sorted(tokens)


def test_global_cap_queues_then_runs(corpus):
    slots = TrainingSlots(1)
    first = TrainingWorker(corpus, TrainConfig(hidden=8, epochs=100_000, batch_size=4, num_steps=10), limiter=slots)
    second = TrainingWorker(corpus, CFG, limiter=slots)
    first.start()
    assert wait_for(lambda: first.progress().status == "running", 20.0)
    second.start()
    time.sleep(0.5)
    assert second.progress().status == "queued" and second.progress().epoch == 0
    first.stop()
    assert second.join(30) and second.progress().status == "finished"
    third = TrainingWorker(corpus, CFG, limiter=TrainingSlots(0))
    third.start()
    time.sleep(0.3)
    third.stop()  # leaving the queue
    assert third.join(2) and third.progress().status == "stopped"


def test_runs_of_a_lost_session_are_stopped(corpus):
    w = TrainingWorker(corpus, TrainConfig(hidden=8, epochs=100_000, batch_size=4, num_steps=10))
    w.start()
    assert wait_for(lambda: w.progress().epoch >= 1, 20.0)
    assert reap_unseen(60.0) == 0  # seen just now
    w.last_seen -= 120
    assert reap_unseen(60.0) == 1
    assert w.join(1.0) and w.progress().status == "stopped"


def test_a_crash_becomes_a_message(corpus, monkeypatch):
    def boom(*args):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setitem(train_mod.ENGINES, "textbook", boom)
    w = TrainingWorker(corpus, CFG)
    w.start()
    assert w.join(10)
    snap = w.progress()
    assert snap.status == "failed" and snap.message == "training failed: out of memory"


def test_divergence_keeps_the_last_good_model(corpus):
    w = TrainingWorker(corpus, TrainConfig(hidden=16, epochs=50, batch_size=4, num_steps=10, lr=1e6, clip=1e6))
    w.start()
    assert w.join(30)
    snap = w.progress()
    assert snap.status == "diverged" and "learning rate" in snap.message
    assert all(h["perplexity"] < float("inf") for h in snap.history)


def test_session_end_stops_its_runs_and_memory_is_released(corpus):
    import gc

    from gru_viz.serve.worker import ALL_WORKERS
    from gru_viz.ui.state import SessionGuard, _on_session_end

    runs = [TrainingWorker(corpus, TrainConfig(hidden=8, epochs=100_000, batch_size=4, num_steps=10))]
    runs[0].start()
    assert wait_for(lambda: runs[0].progress().epoch >= 1, 20.0)
    _on_session_end(SessionGuard(runs=runs))  # what Streamlit calls when the browser session goes away
    assert runs[0].join(1.0) and runs[0].progress().status == "stopped"
    ident = runs[0].run_id
    runs.clear()  # Streamlit drops the session state
    gc.collect()
    assert all(x.run_id != ident for x in list(ALL_WORKERS))  # nothing else keeps the run (and its model) alive


def test_a_run_past_the_time_limit_stops_and_says_why_and_resume_gets_a_new_allowance(corpus):
    w = TrainingWorker(corpus, TrainConfig(hidden=8, epochs=50, batch_size=4, num_steps=10), time_limit=1e-9)
    w.start()
    assert w.join(30.0)
    snap = w.progress()
    assert snap.status == "stopped" and snap.epoch == 1 and "time limit" in snap.message
    w.restart()  # Resume: queued again, then one more epoch within the new allowance
    assert wait_for(lambda: not w.progress().active, 30.0)
    snap = w.progress()
    assert snap.status == "stopped" and snap.epoch == 2 and "time limit" in snap.message


def test_the_watchdog_says_why_it_stopped_a_run(corpus):
    w = TrainingWorker(corpus, TrainConfig(hidden=8, epochs=100_000, batch_size=4, num_steps=10))
    w.start()
    assert wait_for(lambda: w.progress().epoch >= 1, 20.0)
    w.last_seen -= 1_000
    reap_unseen(500)  # the app's own watchdog thread (started by earlier app tests, 180 s) may reap it first
    assert w.join(5.0)
    snap = w.progress()
    said = re.search(r"not seen for (\d+) s", snap.message)
    assert snap.status == "stopped" and said and int(said.group(1)) in (500, int(UNSEEN_GRACE_S)) and w.can_continue


def test_slots_go_in_arrival_order_among_runs_that_fit_and_within_the_memory_budget():
    slots = TrainingSlots(runs=2, memory_budget=100)
    a, b, c, d = object(), object(), object(), object()
    assert slots.acquire(a, 60, timeout=0)
    assert not slots.acquire(b, 60, timeout=0)  # two runs would fit, their memory does not
    assert slots.acquire(c, 10, timeout=0)  # c fits beside a: waiting b blocks no one (tests/test_slots.py)
    assert slots.position(b) == 1 and slots.position(c) == 0
    slots.release(a)
    assert slots.acquire(b, 60, timeout=0)
    assert not slots.acquire(d, 0, timeout=0)  # both slots taken
    assert slots.memory_in_use == 70 and not slots.fits_alone(101)
    slots.leave(d)
    assert slots.position(d) == 0
