"""Charts and controls that fit where teachers and students open them (issue 30, items 6 and 8): ④ on a tablet
(1024×768, sidebar open) and every tab's charts on a projector (1280×720), in English and 中文.

One reader, LAYOUT_JS, looks at every visible Plotly chart (the scrubber's inside its shadow root too) and
names each title or legend entry that overlaps a tick label or mark, any of their texts cut by the chart's edge,
tick labels of one axis that overlap each other, and a mode bar drawn at all (its icons covered legends and titles).
"""

from __future__ import annotations

import pytest

LAYOUT_JS = """
() => {
  const roots = [document];
  const walk = root => root.querySelectorAll('*').forEach(el => {
    if (el.shadowRoot) { roots.push(el.shadowRoot); walk(el.shadowRoot); } });
  walk(document);
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const meet = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const text = el => (el.textContent || '').trim();
  const problems = [];
  let charts = 0;
  for (const root of roots) for (const plot of root.querySelectorAll('.js-plotly-plot')) {
    const svg = plot.querySelector('.main-svg');
    if (!shown(plot) || !svg) continue;
    charts += 1;
    const frame = svg.getBoundingClientRect();
    const named = sel => [...plot.querySelectorAll(sel)].filter(el => shown(el) && text(el))
      .map(el => ({el, box: el.getBoundingClientRect(), text: text(el).slice(0, 40)}));
    const titles = named('.gtitle, .annotation-text, .legendtext');
    const ticks = named('.xtick > text, .x2tick > text, .ytick > text, .y2tick > text');
    const marks = [...plot.querySelectorAll('path.ticks')].filter(shown)
      .map(el => ({box: el.getBoundingClientRect(), text: 'a tick mark'}));
    const chart = (plot.querySelector('.gtitle') || plot.querySelector('.annotation-text') || {}).textContent || '';
    const where = `chart "${chart.trim().slice(0, 30)}"`;
    for (const t of titles) {
      for (const k of [...ticks, ...marks])
        if (meet(t.box, k.box)) problems.push(`${where}: "${t.text}" over tick "${k.text}"`);
      const b = t.box;
      // a text's box includes the font's ascent above its capitals: 3 px outside is no visible cut, half a line is
      if (b.left < frame.left - 3 || b.right > frame.right + 3 || b.top < frame.top - 3 || b.bottom > frame.bottom + 3)
        problems.push(`${where}: "${t.text}" cut by the chart's edge`);
    }
    for (const axis of ['xtick', 'x2tick', 'ytick', 'y2tick']) {
      const row = named(`.${axis} > text`);
      for (let i = 0; i < row.length; i++) for (let j = i + 1; j < row.length; j++)
        if (meet(row[i].box, row[j].box))
          problems.push(`${where}: ticks "${row[i].text}" and "${row[j].text}" overlap`);
    }
    if ([...plot.querySelectorAll('.modebar')].some(shown)) problems.push(`${where}: a mode bar is drawn`);
  }
  return {charts, problems};
}
"""
# Buttons and labels in the main area whose text is wider than their box (cut with "…" or hidden).
CUT_JS = """
() => [...document.querySelectorAll(
    "[data-testid='stMain'] :is(button p, label p, [data-baseweb='select'] div)")]
  .filter(el => el.getClientRects().length && !el.children.length && el.scrollWidth > el.clientWidth + 1)
  .map(el => (el.innerText || '').trim().slice(0, 60))
"""


def _layout(app, where: str, min_charts: int) -> None:
    app.assert_no_exception()
    found = app.wait_until(lambda: (lambda r: r if r["charts"] >= min_charts else None)(app.page.evaluate(LAYOUT_JS)),
                           f"{min_charts} charts in {where}")
    app.page.wait_for_timeout(800)  # the last relayout (automargin) settles
    found = app.page.evaluate(LAYOUT_JS)
    assert not found["problems"], f"{where}: {found['problems'][:8]}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_on_a_tablet_the_title_row_and_the_charts_of_four_three_and_one_fit_with_the_sidebar_open(app, lang):
    """Issue 30: at 1024×768 with the sidebar open, ④'s right-hand title and a legend entry were cut and its 61
    character labels overlapped; the language box read "Englis" and the switch "Projector m…"; ③'s "Resume" read
    "Res…"; ①'s cell drawing ran past its edge."""
    app.page.set_viewport_size({"width": 1024, "height": 768})
    app.open(f"lang={lang}&tab=gates")
    assert app.sidebar.is_visible()  # the tablet case: the sidebar takes 300 px of the width
    cut = app.page.evaluate(CUT_JS)
    assert not cut, f"cut in the title row or the tab: {cut}"
    app.page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    _layout(app, f"④ at 1024×768 ({lang})", 2)
    app.shot(f"tablet-gates-{lang}", show=app.page.locator(".js-plotly-plot").first)
    app.open_tab("③ Train live" if lang == "en" else "③ 实时训练")
    cut = app.page.evaluate(CUT_JS)
    assert not cut, f"cut in ③'s controls: {cut}"
    _layout(app, f"③ at 1024×768 ({lang})", 1)
    # ①: the GRU cell's drawing beside its equation ran past its right edge ("H_t = −0.29" cut)
    app.open(f"lang={lang}&tab=scrub")
    app.page.locator(".gsc-cell").first.scroll_into_view_if_needed()
    _layout(app, f"① at 1024×768 ({lang})", 4)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_on_a_projector_no_chart_title_sits_over_tick_labels(app, lang):
    """Issue 30, item 8: on a projector (1280×720) chart titles overlapped tick labels and the mode bar covered
    legends and titles; checked on ① (the scrubber's charts), ③ and ④."""
    app.page.set_viewport_size({"width": 1280, "height": 720})
    for tab, charts in (("scrub", 2), ("train", 1), ("gates", 2)):
        app.open(f"proj=true&lang={lang}&tab={tab}")
        if tab == "gates":
            app.page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        _layout(app, f"{tab} on a projector ({lang})", charts)
