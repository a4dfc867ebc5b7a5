"""Which characters mattered: every bar stands under its own character and is as wide, in any script (full-width
Chinese too), to the end of the text; the bars' scale is said on the page, not only in a tooltip."""

from __future__ import annotations

import urllib.parse

import pytest

pytestmark = pytest.mark.e2e
ROOT = "[data-testid='gruScrubber']"
# Text written for this test: Chinese with a few Latin letters, digits and spaces among it.
ZH_PROBE = ("门控循环单元用重置门和更新门控制隐状态。 The GRU keeps 2 gates; 候选隐状态由重置门决定，"
            "更新门决定保留多少旧的隐状态。") * 4

GEOMETRY_JS = """r => {
  const root = document.querySelector(r);
  const chars = [...root.querySelectorAll('.gsc-chars .gsc-ch')].map(c => c.getBoundingClientRect());
  const bars = [...root.querySelector('.gsc-bars').querySelectorAll('.gsc-bar')].map(b => b.getBoundingClientRect());
  return {chars: chars.map(b => [b.left, b.width]), bars: bars.map(b => [b.left, b.width]),
          scale: (root.querySelector('.gsc-att-scale') || {}).textContent || ''};
}"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bars_stand_under_their_characters_in_chinese_text_to_the_end(app, lang):
    query = urllib.parse.urlencode({"tab": "scrub", "inspect": "raw:30", "probe": ZH_PROBE, "lang": lang})
    app.open(query)
    app.page.wait_for_selector(f"{ROOT} .gsc-done[data-charts='1']", state="attached")
    app.page.evaluate("() => document.activeElement?.blur()")
    app.page.keyboard.press("End")  # the last step: the tape has slid, every bar is drawn
    app.page.wait_for_timeout(300)
    geo = app.page.evaluate(GEOMETRY_JS, ROOT)
    assert len(geo["chars"]) == len(geo["bars"]) > 150
    for t, ((cx, cw), (bx, bw)) in enumerate(zip(geo["chars"], geo["bars"], strict=True)):
        assert abs(cx - bx) < 0.6 and abs(cw - bw) < 0.6, (t, (cx, cw), (bx, bw))  # step, character, its bar
    wide = [w for (_, w), ch in zip(geo["chars"], ZH_PROBE, strict=False) if "\u4e00" <= ch <= "\u9fff"]
    narrow = [w for (_, w), ch in zip(geo["chars"], ZH_PROBE, strict=False) if ch.isascii() and ch.isalpha()]
    assert min(wide) > 1.5 * max(narrow)  # full-width characters, and their bars with them
    assert "1/100" in geo["scale"]
    app.shot(f"attribution-bars-{lang}")
