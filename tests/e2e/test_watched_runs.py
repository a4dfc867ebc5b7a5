"""Runs and the watchdog as a class meets them: a page that only polls keeps its run; two tabs of one browser."""

from __future__ import annotations

import re

from conftest import UNSEEN_GRACE_S

TAB_TRAIN = "③ Train live"


def test_a_watched_run_outlives_the_watchdog_grace_with_only_polls(app):
    """Issue 15.3: only full reruns refreshed the last-seen time, so a foreground Train tab whose page only polled
    showed "Stopped" after the grace. Here the page sits still for twice the grace."""
    app.open("?tab=train&hidden=8&epochs=1000&batch_size=4&num_steps=10")
    app.button("Start").click()
    app.main.get_by_text("Training…", exact=True).wait_for()
    app.page.wait_for_timeout(int(2 * UNSEEN_GRACE_S * 1000))  # nothing but the fragment's 1 s polls
    assert app.main.get_by_text("Training…", exact=True).is_visible()
    assert not app.main.get_by_text(re.compile(r"^Stopped")).count()
    app.rerun_after(app.button("Stop").click)
    app.main.get_by_text(re.compile(r"^Stopped at epoch \d+\.$")).wait_for()
    app.assert_no_exception()


def test_a_second_tab_of_the_same_browser_cannot_start_a_second_run(app):
    app.open("?tab=train&hidden=8&epochs=1000&batch_size=4&num_steps=10")
    app.button("Start").click()
    app.main.get_by_text("Training…", exact=True).wait_for()
    other = app.page.context.new_page()  # same browser context: same cookies, another Streamlit session
    other.goto(app.page.url)
    other.get_by_role("button", name="Start", exact=True).click()
    other.get_by_text(re.compile("another tab of this browser")).wait_for()
    other.close()
    app.rerun_after(app.button("Stop").click)
    app.assert_no_exception()
