"""The UI boundary's shared result cache: one computation per result, however many visitors ask at once."""

from __future__ import annotations

import threading
import time

import pytest
import streamlit as st

from gru_viz.ui import state


@pytest.fixture(autouse=True)
def _clear():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_a_bundled_models_result_is_computed_once_for_visitors_asking_together():
    calls, results = [], []

    def compute():
        calls.append(1)
        time.sleep(0.2)  # long enough for every thread below to ask while it is being computed
        return object()

    ask = lambda: results.append(state.cached("ppl", (("pre", 500), "x"), compute, shared=True))  # noqa: E731
    threads = [threading.Thread(target=ask)
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_a_failed_computation_is_not_cached_and_others_still_get_a_result():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")
        return 42

    with pytest.raises(RuntimeError):
        state.cached("ppl", (("pre", 5), "y"), flaky, shared=True)
    assert state.cached("ppl", (("pre", 5), "y"), flaky, shared=True) == 42
    assert state.cached("ppl", (("pre", 5), "y"), flaky, shared=True) == 42 and len(attempts) == 2


def test_the_browser_token_is_the_same_for_every_masking_of_one_xsrf_cookie():
    # two tabs of one browser (seen in Chromium here): new masks, the same token and time
    a = state.browser_token("2|65e27d6e|266205413114f9ad3237d31042d75a8c|1795991607")
    b = state.browser_token("2|8a05ecaf|c9859480def3686cddd042d1ad30cb4d|1795991607")
    other = state.browser_token("2|c7953c92|08df468a730dbb4a059fc83a5861b260|1795991609")
    assert a == b and a is not None and other != a
    assert state.browser_token("") is None and state.browser_token("2|zz|zz|1") is None


def test_one_active_run_per_visitor_across_their_sessions():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    app_file = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
    tabs = []
    try:
        for _ in range(2):  # two browser tabs of one visitor: two sessions, one browser id
            tab = AppTest.from_file(app_file, default_timeout=60)
            tab.session_state["_visitor"] = "browser:same"
            for key, value in {"tab": "train", "hidden": 8, "epochs": 1000, "batch_size": 4, "num_steps": 10,
                               "corpus_source": "offline"}.items():
                tab.session_state[key] = value
            tab.run()
            tabs.append(tab)
        tabs[0].button(key="btn_start").click().run()
        assert tabs[0].session_state["runs"][0].progress().active
        tabs[1].button(key="btn_start").click().run()
        assert tabs[1].session_state["runs"] == []
        assert any("another tab of this browser" in w.value for w in tabs[1].warning)
    finally:
        for tab in tabs:
            for w in tab.session_state["runs"] if "runs" in tab.session_state else []:
                w.stop()
                w.join(2.0)
        st.cache_resource.clear()


def test_a_run_too_big_for_the_memory_budget_is_refused_with_what_would_fit(monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from gru_viz.serve.slots import TrainingSlots
    from gru_viz.ui import actions

    monkeypatch.setattr(actions, "training_slots", lambda: TrainingSlots(2, memory_budget=200 * 2**20))
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=60)
    for key, value in {"tab": "train", "hidden": 512, "batch_size": 256, "num_steps": 200,
                       "corpus_source": "offline", "engine": "textbook"}.items():
        app.session_state[key] = value
    try:
        app.run()
        app.button(key="btn_start").click().run()
        assert app.session_state["runs"] == []
        message = " ".join(e.value for e in app.error)
        assert "at most 200 MB" in message and "This would fit: fast code, Batch size" in message, message
    finally:
        st.cache_resource.clear()


def test_the_training_code_choice_says_which_loops_run_and_why(monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from gru_viz import fast

    monkeypatch.setattr(fast, "build_state", lambda made: fast.BuildState(made.loops, made.reason, "no_memory",
                                                                          "not enough memory"))
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=60)
    try:
        app.run()
        notes = " ".join(c.value for c in app.sidebar.caption)
        assert "memory is too small" in notes  # the kernel's state, after the loops' and why
        assert "Not timed yet on this server" in notes or "Chosen by timing" in notes
    finally:
        st.cache_resource.clear()
