"""Captions computed from the chart beside them: ④'s gradient line is read off the drawn curves' two ends, and the
help text no longer types a range that the chart on screen contradicts (both languages)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gru_viz.ui.i18n import en, zh

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def factor(word: str, x: float) -> float:
    """The factor a caption says, as a multiplier of the gradient from t′ = t back to t′ = 0."""
    return x if word.strip() in ("grows", "放大") else 1 / x


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_gradient_caption_is_the_drawn_curves_first_over_last_value(lang):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"tab": "gates", "lang": lang})
    at.run()
    try:
        assert not at.exception, [e.value for e in at.exception]
        (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("grad_chart")]
        drawn = [t["y"] for t in spec["data"]]
        drawn = [y if isinstance(y, list) else _decode(y) for y in drawn]
        want = [y[0] / y[-1] for y in drawn]
        strings = en.EN if lang == "en" else zh.ZH
        (line,) = [c.value for c in at.caption if c.value.startswith(strings["g_grad_line"][:6])]
        if lang == "en":
            said = [factor(w, float(x.replace(",", ""))) for w, x in re.findall(r"(shrinks|grows) ([\d.,e+]+)×", line)]
        else:
            said = [factor(w, float(x.replace(",", ""))) for w, x in re.findall(r"(缩小为 1/|放大 )([\d.,e+]+)", line)]
        assert len(said) == len(want) >= 2
        for s, w in zip(said, want, strict=True):
            assert s == pytest.approx(w, rel=6e-3), (line, want)  # three significant digits
        assert "3 to 30" not in strings["g_grad_help"] and "3 到 30" not in strings["g_grad_help"]
    finally:
        st.cache_resource.clear()


def _decode(y: dict) -> list[float]:
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"])).tolist()


def test_formula_subscripts_become_html_sub_and_nothing_else_does():
    from gru_viz.ui.view import math_html

    assert math_html("H_t = tanh(X_t W_xh + H_{t−1} W_hh + b_h)") == (
        "H<sub>t</sub> = tanh(X<sub>t</sub> W<sub>xh</sub> + H<sub>t−1</sub> W<sub>hh</sub> + b<sub>h</sub>)")
    assert math_html("H̃_t and ‖∂ℓ_t/∂H_t′‖") == "H̃<sub>t</sub> and ‖∂ℓ<sub>t</sub>/∂H<sub>t′</sub>‖"
    assert math_html("rnn_scratch, gru_viz.explain.analysis <b>") == "rnn_scratch, gru_viz.explain.analysis &lt;b&gt;"


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("preset", ["plain_rnn", "frozen_memory", "amnesia"])
def test_a_presets_caption_shows_its_formula_with_subscripts_not_tex_source(lang, preset):
    """Issue 30: the captions showed "H_{t−1} W_hh" as typed."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"tab": "force", "lang": lang, "preset": preset})
    at.run()
    try:
        assert not at.exception, [e.value for e in at.exception]
        (caption,) = [c for c in at.caption if "<sub>t" in c.value]
        assert caption.proto.allow_html
        assert "_{" not in caption.value and "_t" not in caption.value and "H<sub>t" in caption.value.replace(
            "H̃", "H")
    finally:
        st.cache_resource.clear()


def test_no_text_sends_anyone_to_a_chart_toolbar_the_page_does_not_draw():
    """Issue 30: the mode bar was turned off (its icons covered legends and titles), yet the downloads still said
    "Each chart's camera icon saves a PNG" (每个图表的相机图标可保存 PNG)."""
    from gru_viz.ui.view import View

    assert not any(View(projector=p).chart_config["displayModeBar"] for p in (False, True))
    for strings in (en.EN, zh.ZH):
        said = [k for k, v in strings.items() if re.search(r"camera|toolbar|mode bar|相机|工具栏", v, re.I)]
        assert not said, said
