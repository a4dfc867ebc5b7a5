"""The exported page's text in Chromium: curly quotes as narrow as in the app, Chinese still drawn (issue 30)."""

from __future__ import annotations

import pytest

from gru_viz.views.export_html import PAGE_CSS

pytestmark = pytest.mark.e2e


def test_the_exports_curly_quotes_are_narrow_and_its_chinese_full_width(browser, tmp_path):
    """Where no Latin font of the list was installed, "Noto Sans CJK SC" drew “ and ” a full em wide: the export
    showed 'input  “i” ' with spaces around every quote."""
    page_file = tmp_path / "text.html"
    page_file.write_text(f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><style>{PAGE_CSS}</style>'
                         '<style>span { font-size: 40px; }</style></head><body>'
                         '<span id="q">“</span><span id="m">M</span><span id="zh">门</span></body></html>',
                         encoding="utf-8")
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    page.goto(page_file.as_uri())
    width = {k: page.evaluate(f"document.getElementById('{k}').getBoundingClientRect().width") for k in
             ("q", "m", "zh")}
    ctx.close()
    assert width["q"] < 0.6 * 40, width  # a Latin quote, not a full-width one
    assert width["zh"] > 0.9 * 40, width  # a Chinese character keeps its full width
