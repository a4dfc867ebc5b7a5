"""A visitor's own text (pasted) counts with what the server keeps (gru_viz.ui.own_text, issue 31 item 6): one entry
of the corpus's bytes per session; near the server's limit the oldest goes, its page says so and its text box is
cleared; the session's end gives it back. Bytes and entries are counted; nothing is timed."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from gru_viz.data import make_corpus
from gru_viz.serve.kept import KeptMemory, corpus_bytes
from gru_viz.serve.slots import TrainingSlots
from gru_viz.ui import own_text, state
from tests.helpers import APP

FIRST = "The quick brown fox jumps over the lazy dog. " * 400
SECOND = "Pack my box with five dozen liquor jugs, said the time traveller. " * 400


def _paste(at: AppTest, text: str) -> AppTest:
    if "runs" not in at.session_state:  # a new page: its first run
        at.run()
    at.radio(key="w.corpus_source.en").set_value("paste").run()
    at.text_area(key="w.paste_text.en").set_value(text).run()
    return at


@pytest.fixture
def kept(monkeypatch):
    """The server's kept memory, fresh for the test: room for one of these texts, not two."""
    one = corpus_bytes(make_corpus(FIRST, "Pasted text", 10_000))
    memory = KeptMemory(total=int(1.5 * one), per_owner=10 * one)
    monkeypatch.setattr(own_text, "training_slots", lambda: TrainingSlots(2, None, kept=memory))
    yield memory
    import streamlit as st

    st.cache_resource.clear()


def _held(at: AppTest) -> own_text.OwnCorpus:
    held = at.session_state["_own_corpus"]
    assert isinstance(held, own_text.OwnCorpus)
    return held


def test_a_pasted_text_is_one_kept_entry_of_its_corpus_bytes_and_a_new_text_replaces_it(kept):
    at = _paste(AppTest.from_file(APP, default_timeout=60), FIRST)
    held = _held(at)
    assert len(kept) == 1 and kept.total == held.nbytes == corpus_bytes(held.corpus) > len(FIRST)
    assert kept.owner_total(at.session_state["_visitor"]) == held.nbytes
    at.text_area(key="w.paste_text.en").set_value(SECOND).run()
    assert len(kept) == 1 and kept.total == _held(at).nbytes and held.corpus is None  # the first let go
    assert not at.exception


def test_near_the_servers_limit_the_oldest_text_goes_and_its_page_says_so_and_clears_it(kept):
    first = _paste(AppTest.from_file(APP, default_timeout=60), FIRST)
    _paste(AppTest.from_file(APP, default_timeout=60), SECOND)  # another visitor: the two exceed the server's room
    assert len(kept) == 1 and _held(first).corpus is None and _held(first).dropped == "kept_server"
    first.run()  # the first visitor's next page run
    assert any("Your text was freed from the server's memory" in e.value for e in first.error)
    assert first.text_area(key="w.paste_text.en").value == ""  # its memory goes with the session's copy
    assert "_own_corpus" not in first.session_state or first.session_state["_own_corpus"] is None
    first.run()
    assert not any("freed" in e.value for e in first.error)  # said once
    _paste(first, FIRST)  # pasting again builds it anew (and, past the limit, the other's goes)
    assert _held(first).corpus is not None and len(kept) == 1


def test_the_sessions_end_gives_its_text_back(kept):
    at = _paste(AppTest.from_file(APP, default_timeout=60), FIRST)
    held = _held(at)
    guard = state.SessionGuard(runs=[], texts=[held])  # what the session-scoped guard holds at its release
    state._on_session_end(guard)
    assert len(kept) == 0 and kept.total == 0 and held.corpus is None and held.dropped == "session_ended"


def test_the_text_a_visitors_page_still_uses_outlasts_their_ended_runs(kept):
    """Past a visitor's share their oldest goes, but the text their page trains on is used at every page run: an
    ended run kept before that run goes first (tools/flood.py's paste flood lost its text at its third run)."""
    at = _paste(AppTest.from_file(APP, default_timeout=60), FIRST)
    held, me, dropped = _held(at), at.session_state["_visitor"], []
    kept.per_owner = held.nbytes + 150
    kept.add("run 1", me, 100, lambda reason: dropped.append(("run 1", reason)))
    at.run()  # the page again, on the same text
    kept.add("run 2", me, 100, lambda reason: dropped.append(("run 2", reason)))
    assert dropped == [("run 1", "kept_visitor")] and held.corpus is not None and not held.dropped
    assert kept.owner_total(me) == held.nbytes + 100
