"""The degradation curve's log ticks in the browser are views/figures.log_ticks's: Plotly's own log ticks labelled
2 and 5 at three quarters of the font (13.5 px under the projector's 18, the CI failure of stop 37) and none on a
narrow range. The JavaScript port is run in Chromium on the same grid of ranges as Python's test."""

from __future__ import annotations

import numpy as np

from gru_viz.views import figures
from gru_viz.views.export_html import SCRUBBER_DIR, _inline_script

RANGES = [(float(lo), float(lo * ratio)) for lo in np.geomspace(1.0001, 5000, 60)
          for ratio in (1.0005, 1.003, 1.02, 1.1, 1.3, 1.5, 2, 2.5, 4, 10, 100)]


def test_the_browsers_log_ticks_equal_pythons_on_every_range(browser):
    page = browser.new_page()
    try:
        util = (SCRUBBER_DIR / "scrub_util.js").read_text(encoding="utf-8")
        page.set_content(f"<!doctype html><script>{_inline_script(util)}\nwindow.lt = logTicks;"
                         "window.lto = logTicksOf;</script>")
        js = page.evaluate("(ranges) => ranges.map(([lo, hi]) => lt(lo, hi))", RANGES)
        for (lo, hi), got in zip(RANGES, js, strict=True):
            assert got == figures.log_ticks(lo, hi), (lo, hi)
        assert page.evaluate("lto([3.5, NaN, 7.25, Infinity])") == figures.log_ticks(3.5, 7.25)
        assert page.evaluate("lto([NaN]) === undefined")
    finally:
        page.close()
