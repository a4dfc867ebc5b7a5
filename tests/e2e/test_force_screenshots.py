"""End-to-end: ②'s degradation curve as a student sees it, in English and 中文, at 1600×1000 and at 1280×720 in
projector mode, with the plain-RNN preset at strength 0.5 (from a link). The shots go to artifacts/e2e/ (the ones
in docs/screenshots/ were taken by this test); the checks are what a screenshot cannot prove by itself: the curve
is whole on the screen, in the page's language, its marker at the strength shown, and nothing overflows sideways."""

from __future__ import annotations

import urllib.parse

import pytest

from gru_viz.ui.i18n.en import EN
from gru_viz.ui.i18n.zh import ZH

pytestmark = pytest.mark.e2e
LIVE = ".gfc-host-root"
CURVE = f"{LIVE} .gfc-curve.js-plotly-plot"


@pytest.mark.parametrize("size, lang, proj", [("1600x1000", "en", False), ("1600x1000", "zh", False),
                                              ("1280x720", "en", True), ("1280x720", "zh", True)])
def test_the_degradation_curve_on_screen_in_both_languages(app, size, lang, proj):
    width, height = (int(v) for v in size.split("x"))
    app.page.set_viewport_size({"width": width, "height": height})
    query = {"tab": "force", "lang": lang, "preset": "plain_rnn", "f_strength": "0.5", **({"proj": "true"} if proj
                                                                                           else {})}
    app.open(urllib.parse.urlencode(query))
    app.page.wait_for_selector(f"{LIVE} [data-testid='gv-ppl-forced'][data-value]", timeout=90_000)
    app.page.wait_for_selector(CURVE, state="visible", timeout=60_000)
    app.page.wait_for_function("() => document.querySelector('.gfc-curve')?.dataset.painted !== undefined")
    app.page.locator(CURVE).evaluate("e => e.scrollIntoView({block: 'end'})")
    app.page.wait_for_timeout(300)  # Streamlit's main area scrolls smoothly
    box = app.page.locator(CURVE).bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height + 1, box  # the whole curve
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    curve = app.page.locator(CURVE).evaluate(
        "e => ({title: e.layout.title.text, x: e.data[0].x, now: e.data[1].x, y: e.layout.yaxis.title.text})")
    words = EN if lang == "en" else ZH
    assert (curve["title"], curve["y"]) == (words["live_curve_title"], words["live_curve_y"])
    assert curve["now"] == [0.5] and min(curve["x"]) == 0 and max(curve["x"]) == 1
    forced = float(app.page.get_attribute(f"{LIVE} [data-testid='gv-ppl-forced']", "data-value"))
    marker_y = app.page.locator(CURVE).evaluate("e => e.data[1].y[0]")
    assert abs(marker_y - forced) < 1e-9  # the marker is the perplexity shown beside it
    overflow = app.page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    app.shot(f"degradation-{lang}-{size}{'-projector' if proj else ''}")
    app.assert_no_exception()


# Every visible text of ②'s panel in projector mode, with its font size (Plotly's SVG text too).
PANEL_FONTS_JS = """
() => [...document.querySelectorAll('.gfc-host-root *')].flatMap(el => {
  const own = [...el.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim());
  const r = el.getBoundingClientRect(), st = getComputedStyle(el);
  if (!own.length || !r.width || st.visibility === 'hidden' || st.display === 'none') return [];
  if (el.closest('.modebar, .hoverlayer, sub, sup') || el.getAttribute('baseline-shift')) return [];
  // Plotly draws <sub>/<sup> as a tspan at 70 % of its line (the t of H_t): an index, not a line of text
  if (el.tagName === 'tspan' && /font-size:\\s*70%/.test(el.getAttribute('style') || '')) return [];
  return [{size: parseFloat(st.fontSize), text: own[0].textContent.trim().slice(0, 40)}];
})
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_in_projector_mode_the_curve_has_no_text_under_18px(app, lang):
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open(f"tab=force&lang={lang}&preset=plain_rnn&f_strength=0.5&proj=true")
    app.page.wait_for_selector(CURVE, state="visible", timeout=90_000)
    app.page.wait_for_function("() => document.querySelector('.gfc-curve')?.dataset.painted !== undefined")
    small = [f for f in app.page.evaluate(PANEL_FONTS_JS) if f["size"] < 18]
    assert not small, f"text under 18 px in ②'s panel: {small[:8]}"
