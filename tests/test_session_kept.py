"""What a session keeps about its own models counts with what the server keeps (issue 31): the results computed
about them (traces, payloads) and an uploaded model, dropped with a reason the page says, results first (they are
computed again). Counted in bytes and entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from app_page import no_errors
from helpers import selectbox_for

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.explain.inference import trace_text
from gru_viz.serve.budget import param_count
from gru_viz.serve.kept import KeptMemory, object_bytes
from gru_viz.ui.session_kept import KeptUpload, SessionResults

MB = 2**20
CKPT = Path(__file__).resolve().parents[1] / "assets" / "pretrained" / "epoch_0005.safetensors"


def test_results_are_dropped_before_a_visitors_ended_runs_and_text_whatever_their_age():
    kept = KeptMemory(total=None, per_owner=100)
    dropped = []
    kept.add("run", "v", 40, lambda r: dropped.append(("run", r)))
    kept.add("results", "v", 30, lambda r: dropped.append(("results", r)), cheap=True)
    kept.add("text", "v", 40, lambda r: dropped.append(("text", r)))  # 110 > 100: the newer results go, not the run
    assert dropped == [("results", "kept_visitor")] and kept.owner_total("v") == 80
    kept.add("results", "v", 10, lambda r: dropped.append(("results", r)), cheap=True)
    assert kept.shrink_to(50) == 40 and dropped[1:] == [("results", "kept_server"), ("run", "kept_server")]
    server = KeptMemory(total=60, per_owner=None)
    server.add("a-run", "a", 30, lambda r: dropped.append(("a-run", r)))
    server.add("b-results", "b", 20, lambda r: dropped.append(("b-results", r)), cheap=True)
    server.add("c-run", "c", 30, lambda r: dropped.append(("c-run", r)))
    assert dropped[-1] == ("b-results", "kept_server") and server.total == 60
    server.add("d-results", "d", 20, lambda r: dropped.append(("d-results", r)), cheap=True)
    assert dropped[-1] == ("b-results", "kept_server") and server.total == 80  # results never push a run out


def test_object_bytes_counts_what_a_trace_and_a_model_hold():
    """Against the distinct buffers underneath (a trace's arrays are views of torch tensors' storages), and the
    parameters' count for a model."""
    ckpt = load_checkpoint(CKPT)
    text = "the time traveller for so it will be convenient to speak of him " * 8
    trace = trace_text(ckpt.model, ckpt.vocab, text)
    storages = {}
    for v in vars(trace).values():
        if isinstance(v, np.ndarray):
            base = v.base if isinstance(v.base, torch.Tensor) else None
            key = base.untyped_storage().data_ptr() if base is not None else id(v)
            storages[key] = base.untyped_storage().nbytes() if base is not None else v.nbytes
    held = sum(storages.values())
    counted = object_bytes(trace)
    assert held > 2_000_000  # 511 steps × hidden 256 × five float32 arrays
    assert held <= counted <= held + 64 * 1024, (counted, held)
    model_bytes = object_bytes(ckpt.model)
    floats = 4 * param_count(ckpt.model.hidden, len(ckpt.vocab))
    assert floats <= model_bytes <= floats + 64 * 1024, (model_bytes, floats)
    view = torch.zeros(1000)
    assert object_bytes([view, view[:10]]) < 2 * 4000  # one storage, counted once


def test_session_results_stay_within_their_bytes_and_say_once_when_dropped():
    results = SessionResults(limit=3 * MB)
    block = lambda: bytes(MB)  # noqa: E731
    for i in range(5):
        value, changed = results.get("trace", (i,), block, size=8)
        assert changed and len(value) == MB
    assert len(results) == 2 and 2 * MB <= results.nbytes <= 3 * MB  # the oldest went (bytes, not the count of 8)
    assert results.get("trace", (4,), block) == (results.get("trace", (4,), block)[0], False)  # kept: not again
    for i in range(3):
        results.get("ppl", (i,), lambda: 1.5, size=2)
    assert sum(1 for _ in range(3) if results.get("ppl", (0,), lambda: 2.5)[1]) == 1  # (0,) went: two per name
    kept = KeptMemory(total=None, per_owner=None)
    results.kept = kept
    kept.add(results, "v", results.nbytes, results.drop, cheap=True)
    kept.shrink_to(0)
    assert len(results) == 0 and results.nbytes == 0 and results.dropped == "kept_server"
    assert results.take_notice() == ("kept_server", 2) and results.take_notice() == ("", 0)
    results.get("trace", (9,), block)
    assert results.dropped == ""  # counted again: the session's end must give it back
    kept.add(results, "v", results.nbytes, results.drop, cheap=True)
    results.forget("session_ended")
    assert len(kept) == 0 and len(results) == 0


def test_an_uploaded_model_unpacks_as_the_pages_read_it_and_is_gone_once_dropped():
    ckpt = load_checkpoint(CKPT)
    held = KeptUpload("mine.safetensors", ckpt)
    name, model_ckpt = held
    assert name == "mine.safetensors" and model_ckpt is ckpt and held and held[0] == name
    assert held.nbytes >= 4 * param_count(ckpt.model.hidden, len(ckpt.vocab))
    held.drop("kept_server")
    assert not held and held.ckpt is None and held.dropped == "kept_server"


def test_every_reason_an_upload_or_results_are_dropped_for_is_said_in_both_languages():
    from gru_viz.ui.i18n.en import EN
    from gru_viz.ui.i18n.zh import ZH

    for reason in ("kept_visitor", "kept_server", "session_ended"):  # KeptMemory's reasons and the session's end
        assert f"upload_dropped_{reason}" in EN and f"upload_dropped_{reason}" in ZH
    for reason in ("kept_visitor", "kept_server"):  # a session that ended has no page to say it on
        assert EN[f"results_dropped_{reason}"].count("{mb}") == ZH[f"results_dropped_{reason}"].count("{mb}") == 1


def test_an_upload_and_its_results_are_counted_and_a_dropped_upload_is_said(at):
    """The app: the uploaded model and the scrubber's results about it are entries of the visitor's in the
    server's KeptMemory; when the server needs the room both go, the page says so, and the chooser no longer
    offers the model."""
    from gru_viz.ui.state import training_slots

    at.file_uploader(key="upload_ckpt").upload("mine.safetensors", CKPT.read_bytes())
    at.run()
    no_errors(at)
    assert selectbox_for(at, "inspect").value == "upload"
    held, results = at.session_state["uploaded"], at.session_state["_lru"]
    assert isinstance(held, KeptUpload) and held.nbytes >= 4 * param_count(256, 28)
    assert results.nbytes > 100_000  # the scrubber's trace and payload of the uploaded model
    kept = training_slots().kept
    assert kept is not None and held.kept is kept and results.kept is kept
    mine = kept.owner_total(at.session_state["_visitor"])
    assert mine >= held.nbytes + results.nbytes
    kept.shrink_to(0)  # another visitor's run needs all the room there is (in this test process: ours and more)
    assert not held and len(results) == 0
    at.run()
    no_errors(at)
    assert any("uploaded model was freed" in w.value for w in at.sidebar.warning)
    assert any("Results about your own models" in t.value for t in at.toast)
    assert selectbox_for(at, "inspect").value != "upload"


def test_the_run_model_materialised_for_the_chooser_is_counted_with_the_results(at):
    """The one model of a run the page materialises to inspect (a copy of a snapshot: 4 bytes per parameter) was in
    no budget; it is one of the session's results now, and a reset of the runs lets it go."""
    from app_page import open_tab, set_small_run

    set_small_run(at, 3)
    at.button(key="btn_start").click().run()
    run = at.session_state["runs"][0]
    assert run.join(60)
    open_tab(at, "scrub")
    selectbox_for(at, "inspect").set_value(f"run:{run.run_id}:latest").run()
    no_errors(at)
    results = at.session_state["_lru"]
    (model_bytes,) = [n for (name, _), (_, n) in results._items.items() if name == "run_model"]
    assert model_bytes >= 4 * param_count(8, len(run.corpus.vocab))
    open_tab(at, "train")
    at.button(key="btn_reset").click().run()
    assert not any(name == "run_model" for name, _ in results._items)
