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
