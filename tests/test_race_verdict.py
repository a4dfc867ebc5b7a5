"""Lesson 2's speed answer comes from the race's measured tokens/s with a noise band: "about the same" inside it."""

from __future__ import annotations

from gru_viz.train import EpochReport
from gru_viz.train.race import SAME_SPEED_FLOOR, speed_verdict


def lane(*speeds: float) -> list[EpochReport]:
    return [EpochReport(i + 1, len(speeds), 2.0, 0.7, s, float(i), 1000) for i, s in enumerate(speeds)]


def test_the_issues_race_is_about_the_same_and_the_numbers_are_the_medians():
    # the issue's race: GRU 120.7k tokens/s, plain RNN 122.6k (1.6 % apart); a slow first epoch is left out
    found = speed_verdict(lane(40_000, 120_000, 120_700, 121_500), lane(50_000, 122_000, 122_600, 123_000))
    assert found.gru == 120_700 and found.rnn == 122_600
    assert found.verdict == "same" and found.band >= SAME_SPEED_FLOOR


def test_a_gap_beyond_the_band_names_the_faster_lane_and_noisy_epochs_widen_the_band():
    assert speed_verdict(lane(1, 100, 101, 99), lane(1, 150, 151, 149)).verdict == "rnn_faster"
    assert speed_verdict(lane(1, 150, 151, 149), lane(1, 100, 101, 99)).verdict == "gru_faster"
    noisy = speed_verdict(lane(1, 100, 140, 70, 100, 130), lane(1, 125, 126, 124, 125, 125))
    assert noisy.band > 0.2 and noisy.verdict == "same"  # 20 % apart, but the GRU's epochs spread more than that
    assert speed_verdict(lane(), lane(1, 2, 3)) is None


def test_lesson_2s_answer_on_the_page_says_the_races_measured_verdict():
    """In the app: no race, the condition is stated; after a race, the speeds shown are the race's medians."""
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=120)
    at.query_params.update({"tab": "gates"})
    at.run()
    try:
        at.toggle(key="w.l2_reveal.en").set_value(True).run()
        assert any("start the race above to measure it" in m.value for m in at.markdown)
        at.number_input(key="w.race_hidden.en").set_value(8)
        at.number_input(key="w.race_epochs.en").set_value(5)
        at.number_input(key="w.batch_size.en").set_value(8)
        at.run()
        at.button(key="btn_race").click().run()
        run = at.session_state["runs"][0]
        assert run.join(120) and run.progress().status == "finished"
        at.run()
        curves = run.progress().curves
        from gru_viz.train.race import VARIANTS

        gru, rnn = list(VARIANTS)[:2]  # the free GRU and the plain RNN, the race's first two lanes
        found = speed_verdict(curves[gru], curves[rnn])
        (answer,) = [m.value for m in at.markdown if m.value.startswith("Speed, in your race")]
        assert f"GRU {found.gru:,.0f} tokens/s, plain RNN {found.rnn:,.0f}" in answer
        said = {"same": "about the same", "gru_faster": "the GRU was faster", "rnn_faster": "the plain RNN was"}
        assert said[found.verdict] in answer
    finally:
        for w in at.session_state["runs"] if "runs" in at.session_state else []:
            w.stop()
            w.join(2.0)
        st.cache_resource.clear()
