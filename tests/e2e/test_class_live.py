"""Class mode in the real app with ② in the browser (issue 33): while the teacher has not revealed a preset's
question, a student's ② computes and shows nothing forced (numbers, continuation, curve, the gv-* hooks'
values, the scrubber's views, window.gruVizTrace()), whatever the student's controls do; after the reveal it
does."""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser_page import INIT_JS, TIMEOUT_MS, VIEWPORT, AppPage

pytestmark = pytest.mark.e2e
ROOT = ".gfc-host-root"

NOTHING_FORCED = """() => {
  const root = document.querySelector('.gfc-host-root'), q = (s) => document.querySelector(s);
  return {trace: window.gruVizTrace(), asked: root.dataset.asked ?? null, painted: root.dataset.painted ?? null,
          forced: q("[data-testid='gv-ppl-forced']").dataset.value ?? null,
          free: q("[data-testid='gv-ppl-free']").dataset.value ?? null,
          cont: q("[data-testid='gv-cont-forced']").textContent,
          contText: q("[data-testid='gv-cont-forced']").dataset.text ?? null,
          curve: !!q('.gfc-curve .main-svg'), scrub: !!q('.gfc-scrub .gsc-host-root'),
          results: q('.gfc-results').offsetParent !== null, locked: q('.gfc-locked').offsetParent !== null};
}"""


def _set_range(page, testid: str, value: float) -> None:
    page.evaluate("""([id, v]) => { const e = document.querySelector(`[data-testid="${id}"]`);
        e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }""", [testid, value])


def test_a_students_panel_shows_nothing_forced_before_the_teacher_reveals(app, browser):
    app.page.get_by_text("Class mode: predict together").first.click()
    app.rerun_after(lambda: app.button("Start a class (teacher)").click())
    code = re.search(r"[?&]class=([A-Z0-9]+)", app.page.url).group(1)

    # a student in another browser, on ② with the plain RNN's question open
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.add_init_script(INIT_JS)
    errors: list[str] = []
    student = AppPage(ctx.new_page(), app.server, "student")
    student.page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        student.open(f"class={code}&tab=force&preset=plain_rnn")
        page = student.page
        page.wait_for_selector(f"{ROOT} [data-testid='gv-strength']", state="attached")
        page.get_by_text("Predict first", exact=False).first.wait_for()
        page.wait_for_timeout(1500)  # time for anything the worker would compute
        before = page.evaluate(NOTHING_FORCED)
        # the student's own controls: a strength drag, another question's preset, typing
        _set_range(page, "gv-strength", 0.5)
        page.click(f"{ROOT} button[data-preset='amnesia']")
        _set_range(page, "gv-strength", 0.8)
        page.click(f"{ROOT} [data-testid='gv-probe']")
        page.keyboard.type("abc", delay=40)
        page.wait_for_timeout(2500)  # past the settle and its rerun
        student.wait_idle()
        after = page.evaluate(NOTHING_FORCED)
        for state in (before, after):
            assert state["trace"] is None and state["asked"] is None and state["painted"] is None, state
            assert state["forced"] is None and state["free"] is None, state
            assert state["cont"] == "" and state["contText"] is None, state
            assert not state["curve"] and not state["scrub"], state
            assert not state["results"] and state["locked"], state
        student.shot("class-locked")

        # the teacher reveals the amnesia question the student now faces: the student's page follows
        app.open(f"class={code}&tab=force&preset=amnesia")
        app.rerun_after(lambda: app.button("Reveal the answer").click())
        page.wait_for_function("() => window.gruVizTrace() && window.gruVizTrace().setting.preset === 'amnesia'",
                               timeout=60_000)
        shown = page.evaluate(NOTHING_FORCED)
        assert shown["results"] and not shown["locked"] and shown["forced"] is not None
        assert not errors, errors
    finally:
        ctx.close()
