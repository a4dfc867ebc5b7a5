"""Projector mode as a teacher meets it at 1280×720, in English and 中文: the gates on the first screen, nothing
cut off, nothing too small to read from the back row (issue 14).

Sub- and superscripts (the t of R_t, drawn smaller by the browser and by Plotly) are parts of a symbol whose main
letter is measured; they are left out of the size check."""

from __future__ import annotations

import pytest

# Every visible piece of text: its font size (HTML and the charts' SVG text alike) and where it is.
FONTS_JS = """
() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || !node.textContent.trim()) continue;
    const r = el.getBoundingClientRect(), st = getComputedStyle(el);
    if (!r.width || !r.height || st.visibility === 'hidden' || st.display === 'none' || +st.opacity === 0) continue;
    if (el.closest('[aria-hidden="true"], .modebar, .hoverlayer, [data-testid="stSidebar"], sub, sup')) continue;
    const shift = el.getAttribute && el.getAttribute('baseline-shift'), dy = el.getAttribute && el.getAttribute('dy');
    if (el.tagName === 'tspan' && (shift || (dy && dy !== '0' && dy !== '0em'))) continue;  // Plotly's <sub>
    if (node.textContent.trim() === '\u200b') continue;
    out.push({size: parseFloat(st.fontSize), text: node.textContent.trim().slice(0, 40), y: r.top + scrollY});
  }
  return out;
}
"""
# Text boxes and buttons whose content is wider than the box (cut off or hidden).
OVERFLOW_JS = """
() => [...document.querySelectorAll(
    "button, [data-testid='stMarkdownContainer'] p, [data-testid='stCaptionContainer'], h1, h2, h3, h4, label")]
  .filter(el => el.getClientRects().length && !el.closest('[data-testid="stSidebar"]'))
  .filter(el => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'auto')
  .map(el => (el.innerText || '').trim().slice(0, 60))
"""


def _check(app, where: str) -> None:
    app.assert_no_exception()
    small = [f for f in app.page.evaluate(FONTS_JS) if f["size"] < 18]
    assert not small, f"{where}: text under 18 px: {small[:8]}"
    cut = app.page.evaluate(OVERFLOW_JS)
    assert not cut, f"{where}: cut off: {cut[:8]}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_projector_at_1280x720_gates_on_the_first_screen_readable_and_nothing_cut(app, lang):
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open(f"?proj=true&lang={lang}")
    heat = app.page.locator(".gsc-heat").first
    app.wait_until(lambda: heat.bounding_box() is not None, "the gate heatmaps")
    app.page.wait_for_timeout(1500)
    box = heat.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 720, f"the R and Z heatmaps end at {box['y'] + box['height']}"
    app.shot(f"projector-scrub-{lang}")
    _check(app, "scrubber")
    app.open(f"?proj=true&lang={lang}&tab=force&preset=frozen_memory")
    app.page.wait_for_timeout(1000)
    app.shot(f"projector-force-{lang}")
    _check(app, "force tab")
    app.open(f"?proj=true&lang={lang}&tab=gates")
    app.page.wait_for_timeout(1000)
    app.shot(f"projector-gates-{lang}")
    _check(app, "lesson view")
