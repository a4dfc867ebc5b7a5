"""What ended runs keep counts against a per-visitor and a per-server budget, the oldest goes first with a reason,
and a new run's admission makes room (issue 31, item 6). Tests count bytes and entries."""

from __future__ import annotations

import pytest

from gru_viz.data import make_corpus
from gru_viz.serve.budget import param_count
from gru_viz.serve.kept import KEPT_FIXED, KeptMemory, kept_run_bytes
from gru_viz.serve.slots import TrainingSlots
from gru_viz.serve.worker import TrainingWorker
from gru_viz.train import TrainConfig

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter " * 8
CFG = TrainConfig(hidden=8, epochs=3, batch_size=4, num_steps=10, engine="textbook")


def tensor_bytes(worker: TrainingWorker) -> int:
    """Bytes of the distinct tensors an ended run holds: models, gradients, last-good copies, snapshots."""
    seen: dict[int, int] = {}
    for t in worker.handle.lanes().values():
        tensors = [*t.model.params().values(), *t._good.values()]
        tensors += [p.grad for p in t.model.params().values() if p.grad is not None]
        tensors += [v for snap in t.snapshots.values() for v in snap.values()]
        for x in tensors:
            seen[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
    return sum(seen.values())


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(TEXT, "small", max_tokens=0)


@pytest.mark.parametrize("engine,race", [("textbook", False), ("fast", False), ("textbook", True)])
def test_the_formula_covers_every_tensor_an_ended_run_holds(corpus, engine, race):
    w = TrainingWorker(corpus, TrainConfig(hidden=16, epochs=5, batch_size=4, num_steps=10, engine=engine),
                       race=race)
    w.start()
    assert w.join(60)
    held = tensor_bytes(w)
    assert held <= w.kept_bytes() - KEPT_FIXED
    # not a loose bound: the model and every snapshot are there (the last snapshot shares the last-good copy's
    # storage on the CPU; the textbook engine's gradients, where a gate is not forced, make up the difference)
    lanes, snaps = len(w.handle.lanes()), len(w.handle.snapshots)
    one_copy = 4 * param_count(16, len(corpus.vocab)) * lanes
    assert held >= one_copy * (1 + snaps)


def test_a_visitors_oldest_runs_go_beyond_their_budget_and_the_servers_beyond_its():
    dropped: list[tuple[str, str]] = []
    kept = KeptMemory(total=1000, per_owner=450)
    for i in range(5):
        kept.add(f"a{i}", "alice", 200, lambda reason, i=i: dropped.append((f"a{i}", reason)))
    assert dropped == [("a0", "kept_visitor"), ("a1", "kept_visitor"), ("a2", "kept_visitor")]
    assert kept.owner_total("alice") == 400
    for i in range(4):  # fresh identities: the server's budget holds
        kept.add(f"b{i}", f"fresh{i}", 200, lambda reason, i=i: dropped.append((f"b{i}", reason)))
    assert kept.total <= 1000 and dropped[3:] == [("a3", "kept_server")]
    assert kept.shrink_to(300) <= 300 and len(kept) == 1
    assert kept.remove_owner("fresh3") == 1 and kept.total == 0


def test_ten_large_finished_runs_of_one_visitor_keep_at_most_their_budget(corpus):
    """Issue 31 (6): ten runs' models and snapshots were never counted (580 -> 2,278 MB). Now the visitor's
    oldest runs are freed beyond their share, with the reason on each, and their models cannot be read."""
    one = kept_run_bytes(CFG.hidden, len(corpus.vocab), 2)
    slots = TrainingSlots(1, memory_budget=None, kept=KeptMemory(None, int(2.5 * one)))
    workers = []
    for _ in range(10):
        w = TrainingWorker(corpus, CFG, limiter=slots, visitor="browser:x", max_snapshots=2)
        w.start()
        assert w.join(60) and w.progress().status == "finished"
        workers.append(w)
    assert len(slots.kept) == 2 and slots.kept.total <= int(2.5 * one)
    assert [w.progress().dropped for w in workers] == ["kept_visitor"] * 8 + ["", ""]
    assert workers[0].handle is None and workers[0].progress().history  # the curve stays
    with pytest.raises(LookupError):
        workers[0].params_at()
    assert workers[-1].model().hidden == CFG.hidden


def test_a_new_run_is_admitted_by_dropping_the_oldest_kept_runs(corpus):
    one = kept_run_bytes(CFG.hidden, len(corpus.vocab), 2)
    kept = KeptMemory(None, None)
    slots = TrainingSlots(1, memory_budget=4 * one, kept=kept)
    for i in range(4):
        kept.add(f"old{i}", f"v{i}", one, lambda reason: None)
    new = object()
    assert slots.acquire(new, 2 * one, timeout=0, visitor="n")  # two of the four kept runs made room
    assert len(kept) == 2 and kept.total + slots.memory_in_use <= 4 * one


def test_a_run_whose_page_closed_while_training_is_freed_when_its_thread_ends_and_never_kept(corpus):
    slots = TrainingSlots(1, kept=KeptMemory(None, None))
    w = TrainingWorker(corpus, TrainConfig(hidden=8, epochs=100_000, batch_size=4, num_steps=10), limiter=slots,
                       visitor="browser:gone")
    w.start()
    from helpers import wait_for

    assert wait_for(lambda: w.progress().epoch >= 1, 30.0)
    w.stop()
    w.drop("session_ended")  # what the session's end does, while the thread may still be finishing its batch
    assert w.join(10)
    assert w.handle is None and w.progress().dropped == "session_ended" and len(slots.kept) == 0


@pytest.mark.parametrize("tokens,max_tokens", [("raw", 0), ("d2l", 0), ("raw", 10_000)])
def test_a_pasted_corpus_counts_the_bytes_building_it_allocated(tokens, max_tokens):
    """corpus_bytes against what tracemalloc saw make_corpus allocate (the text itself was there before it), on
    issue 31's case: a paste of 2,000,000 CJK characters (26 MB a session there)."""
    import sys
    import tracemalloc

    from gru_viz.serve.kept import corpus_bytes

    text = ("".join(chr(0x4E00 + (i * 7919) % 3990) for i in range(2_000_000)) if tokens == "raw" and not max_tokens
            else "The time traveller (for so it will be convenient to speak of him) was expounding. " * 24_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = make_corpus(text, "Pasted text", max_tokens, tokens)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    counted = corpus_bytes(built) - sys.getsizeof(text)
    assert 0.9 * grown <= counted <= 1.1 * grown + 4096, (grown, counted)
    assert corpus_bytes(built) >= sys.getsizeof(text) + 8 * len(built.tokens)
