"""Tab ④: why gates matter — gradient flow, memory survival, a unit explorer, the race, conventions, lessons."""

from __future__ import annotations

import dataclasses
import html

import numpy as np
import streamlit as st

from gru_viz.data import visible_char
from gru_viz.explain.analysis import (
    FEATURES,
    RAW_FEATURES,
    best_per_feature,
    gradient_flow,
    gradient_flow_any,
    memory_survival,
    rank_units,
    summarize_flow,
)
from gru_viz.explain.inference import trace_text
from gru_viz.nets.model import FREE, PRESETS, Forcing
from gru_viz.train.race import VARIANTS, speed_verdict
from gru_viz.ui import class_questions
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Inspected, Training, describe_forcing, start_run
from gru_viz.ui.context import PageContext, needs_model
from gru_viz.ui.page_state import LESSONS
from gru_viz.ui.state import cached, pretrained_rnn, runs
from gru_viz.ui.view import View, math_html, md_escape
from gru_viz.views.analysis_figures import gradient_flow_figure, survival_figure
from gru_viz.views.figures import STATE_SCALE, scale_colors

MAX_GRAD_STEPS = 120  # the hand-written backward is O(t·hidden²): keep the probe prefix short enough to feel instant
CONVENTIONS = {
    "d2l": (r"H_t = Z_t \odot H_{t-1} + (1 - Z_t) \odot \tilde H_t,\quad "
            r"\tilde H_t = \tanh(X_t W_{xh} + (R_t \odot H_{t-1}) W_{hh} + b_h)"),
    "colah": (r"H_t = (1 - Z_t) \odot H_{t-1} + Z_t \odot \tilde H_t,\quad "
              r"\tilde H_t = \tanh(X_t W_{xh} + (R_t \odot H_{t-1}) W_{hh} + b_h)"),
    "pytorch": (r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1},\quad "
                r"n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))"),
}


def _luminance(css: str) -> float:
    r, g, b = (float(x) / 255 for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# CJK after the Latin monospace: the fonts a Chinese reader's system has (Noto/Source Han on Linux and Android,
# PingFang on Apple, YaHei on Windows), so Chinese text never falls back to boxes.
TEXT_FONTS = ('monospace, "Noto Sans Mono CJK SC", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", '
              '"Microsoft YaHei", sans-serif')




def colored_text(text: str, colors: list[str], titles: list[str]) -> str:
    """Each character on its colour; escaped; a hover title with the value; line breaks kept (raw text)."""
    spans = []
    for ch, color, title in zip(text, colors, titles):
        ink = "#000" if _luminance(color) > 0.45 else "#fff"  # readable on light and dark cells alike
        shown = "&nbsp;" if ch == " " else html.escape(visible_char(ch))  # ↵ newline, ⇥ tab
        spans.append(f'<span title="{html.escape(title)}" style="background:{color};color:{ink};'
                     f'padding:1px 1px;border-radius:2px">{shown}</span>' + ("<br>" if ch == "\n" else ""))
    return (f"<div style='font-family:{TEXT_FONTS};font-size:1.15em;line-height:1.9;word-break:break-all'>"
            + "".join(spans) + "</div>")


def _rnn_for(inspected: Inspected) -> tuple[int, object] | None:
    """The trained plain RNN to compare with: for a bundled GRU the latest RNN snapshot not past its epoch (both
    trained with d2l's recipe on the same text), for any other model with the same vocabulary the final one."""
    snaps = pretrained_rnn()
    if not snaps or inspected.vocab != next(iter(snaps.values())).vocab:
        return None
    epoch = inspected.ident[1] if inspected.ident[0] == "pre" else max(snaps)
    best = max(e for e in snaps if e <= epoch) if any(e <= epoch for e in snaps) else min(snaps)
    return best, snaps[best].model


def change_words(view: View, ratio: float) -> str:
    """A gradient's factor from t′ = t back to t′ = 0 (a curve's first value over its last) in words: "shrinks
    91×" or "grows 3.2×", so the caption reads what the chart beside it draws."""
    if ratio <= 0 or not np.isfinite(ratio):
        return view.t("g_shrinks", x=float("inf"))
    return view.t("g_shrinks", x=1 / ratio) if ratio < 1 else view.t("g_grows", x=ratio)


def gradient_section(view: View, inspected: Inspected, probe: str, forcing: Forcing) -> None:
    model, vocab = inspected.model, inspected.vocab
    st.subheader(view.t("g_grad_title"))
    st.caption(math_html(view.t("g_grad_help")), unsafe_allow_html=True)
    text = probe[:MAX_GRAD_STEPS]
    tokens = vocab.encode(text)
    if len(tokens) < 3:
        st.warning(view.t("probe_empty"))
        return
    last = len(tokens) - 2
    if ps.get("g_target") is not None:
        ps.settle("g_target", lo=1, hi=last)
    target = int(ps.widget(st.slider, view.t("g_target"), "g_target", 1, last, lang=view.lang,
                           shown=min(last, 60)))
    plain = PRESETS["plain_rnn"]
    curves = [(view.t("g_free"), inspected.cached("grad", (text, target, FREE),
                                                  lambda: gradient_flow(model, tokens, target)))]
    curves.append((view.t("g_rnn"), inspected.cached("grad", (text, target, plain),
                                                     lambda: gradient_flow(model, tokens, target, plain))))
    rnn = _rnn_for(inspected)
    if rnn is not None:
        rnn_epoch, rnn_model = rnn
        curves.append((view.t("g_rnn_trained", epoch=rnn_epoch),
                       cached("grad_rnn", (rnn_epoch, text, target),
                              lambda: gradient_flow_any(rnn_model, tokens, target), shared=True)))
    if forcing.active and forcing != plain:
        curves.append((view.t("g_current", what=describe_forcing(view, forcing)),
                       inspected.cached("grad", (text, target, forcing),
                                        lambda: gradient_flow(model, tokens, target, forcing))))
    trace = inspected.cached("trace", (text, FREE), lambda: trace_text(model, vocab, text, normalize=False), size=6)
    left, right = st.columns(2)
    left.plotly_chart(gradient_flow_figure(curves, text, target, font_size=view.font, height=view.height(340),
                                           title=math_html(view.t("g_grad_chart", t=target)),
                                           y_title=math_html("‖∂ℓ_t/∂H_t′‖")),
                      key="grad_chart", config=view.chart_config)
    ratios = {name: summarize_flow(norms).ratio for name, norms in curves}  # the drawn curves' two ends
    line = view.t("g_grad_line", t=target, gru=change_words(view, ratios[curves[0][0]]),
                  forced=change_words(view, ratios[curves[1][0]]))
    if rnn is not None:
        line += " " + view.t("g_grad_line_rnn", rnn=change_words(view, ratios[curves[2][0]]), rnn_epoch=rnn[0])
    left.caption(line)
    survival = memory_survival(trace.Z, target)
    right.plotly_chart(survival_figure(survival, text, target, font_size=view.font, height=view.height(340),
                                       title=view.t("g_surv_chart", t=target), y_title="∏ Z",
                                       names=(view.t("g_surv_band"), view.t("g_surv_median"),
                                              view.t("g_surv_mean"))),
                       key="surv_chart", config=view.chart_config)
    right.caption(math_html(view.t("g_surv_help")), unsafe_allow_html=True)
    norms = np.log10(np.maximum(curves[0][1], 1e-300))
    colors = scale_colors(norms, vmin=float(norms.min()), vmax=float(norms.max()))
    titles = [f"t′={i}: {v:.2e}" for i, v in enumerate(curves[0][1])]
    st.markdown(view.t("g_influence"))
    st.markdown(colored_text(text[: target + 1], colors, titles), unsafe_allow_html=True)


def unit_section(view: View, inspected: Inspected, probe: str) -> None:
    model, vocab = inspected.model, inspected.vocab
    st.subheader(view.t("g_units_title"))
    st.caption(view.t("g_units_help"))
    text = probe
    if not text:
        st.warning(view.t("probe_empty"))
        return
    trace = inspected.cached("trace", (text, FREE), lambda: trace_text(model, vocab, text, normalize=False), size=6)
    quantity = ps.widget(st.radio, view.t("g_quantity"), "g_quantity", lang=view.lang, horizontal=True)
    values = {"H": trace.H, "Z": trace.Z, "R": trace.R}[quantity]
    mode = vocab.mode  # raw text has its own features: quotes, brackets, lines, sentences
    # each feature's best unit first (strongest first), then the best-ranked others
    ranked = inspected.cached("rank", (text, quantity, mode), lambda: best_per_feature(values, text, mode)
                              + rank_units(values, text, top=12, mode=mode))
    names = FEATURES if mode == "d2l" else RAW_FEATURES
    feature_names = dict(zip(names, view.t("g_features" if mode == "d2l" else "g_features_raw").split("|"),
                             strict=True))
    labels: dict[int, str] = {}
    for m in ranked:
        labels.setdefault(m.unit, view.t("g_rank_label", u=m.unit, feature=feature_names[m.feature], r=m.r))
    options = list(labels) + [u for u in range(model.hidden) if u not in labels]
    ps.settle("g_unit", options)  # a unit of a model with more units, or none chosen yet: the best-ranked one
    unit = ps.widget(st.selectbox, view.t("g_unit"), "g_unit", options, lang=view.lang,
                     labels=labels.values(), format_func=lambda u: labels.get(u, f"{u}"))
    v = values[:, unit]
    state = quantity == "H"  # a state in [-1, 1] on the diverging scale, a gate in [0, 1] on the gates' scale
    colors = scale_colors(v, STATE_SCALE, -1, 1) if state else scale_colors(v)
    st.markdown(colored_text(text, colors, [f"{quantity}[{unit}] = {x:+.3f}" for x in v]), unsafe_allow_html=True)
    st.caption(view.t("g_scale_state" if state else "g_scale_gate"))


def race_section(view: View, training: Training) -> None:
    st.subheader(view.t("g_race_title"))
    st.caption(view.t("g_race_help"))
    c = st.columns([1, 1, 2], vertical_alignment="bottom")
    hidden = ps.widget(c[0].number_input, view.t("hidden"), "race_hidden", lang=view.lang)
    epochs = ps.widget(c[1].number_input, view.t("epochs"), "race_epochs", lang=view.lang)
    config = training.config
    if c[2].button(view.t("g_race_start"), key="btn_race", type="primary", disabled=config is None):
        cfg = dataclasses.replace(config, hidden=int(hidden), epochs=int(epochs), forcing=FREE)
        if start_run(view, training, cfg, label=view.t("g_race_label"), race=True):
            ps.put("_race_started", True)
            st.rerun()  # the whole page, so the sidebar's run status starts polling
    if ps.get("_race_started") and any(w.race and w.progress().active for w in runs()):
        st.info(view.t("g_race_started"))


def conventions_section(view: View) -> None:
    st.subheader(view.t("g_conv_title"))
    which = ps.widget(st.radio, view.t("g_conv"), "g_conv", lang=view.lang,
                      format_func=lambda k: view.t(f"g_conv_{k}"), horizontal=True)
    st.latex(CONVENTIONS[which])
    st.caption(math_html(view.t(f"g_conv_note_{which}")), unsafe_allow_html=True)




def _setup_lesson(name: str) -> None:
    values: dict[str, object] = {}
    if name == "l1":  # keep H fixed after step 20: only the input at 20 can matter afterwards
        values = dict(preset="custom", fz_on=True, fz_val=1.0, fr_on=False, f_units="", f_steps_on=True,
                      f_steps=(21, 60), g_target=60)  # settled to the probe's length where it is shorter
    elif name == "l3":
        values = dict(hidden=32)
    for key, value in values.items():
        ps.put(key, value)
    ps.put("lesson_ready", name)


def lesson_text(view: View, name: str) -> str:
    """A lesson's answer. Lesson 2's speed part comes from the latest race's measured tokens/s (GRU against plain
    RNN, with a noise band: "about the same" inside it), or says the condition it holds under when there is none."""
    if name != "l2":
        return view.t(f"{name}_a")
    races = [w for w in runs() if w.race]
    found = None
    if races:
        curves = races[-1].progress().curves
        gru, rnn = list(VARIANTS)[:2]
        found = speed_verdict(curves.get(gru, []), curves.get(rnn, []))
    if found is None:
        speed = view.t("l2_speed_none")
    else:
        speed = view.t(f"l2_speed_{found.verdict}", gru=found.gru, rnn=found.rnn, band=100 * found.band)
    return speed + " " + view.t("l2_a")


def lesson_section(view: View) -> None:
    st.subheader(view.t("g_lesson_title"))
    for name in LESSONS:
        with st.container(border=True):
            st.markdown(f"**{view.t(f'{name}_q')}**")
            in_class = class_questions.lesson_choice(view, name)  # in a class: a choice and words sent to the teacher
            if not in_class:
                ps.widget(st.text_area, view.t("g_predict"), f"{name}_guess", lang=view.lang, height=68)
            st.button(view.t("g_setup"), key=f"{name}_setup", on_click=_setup_lesson, args=(name,))
            if ps.get("lesson_ready") == name:
                st.info(view.ts(f"{name}_where") if name == "l3" else view.t(f"{name}_where"))
            if in_class:
                class_questions.lesson_answer(view, name, lesson_text(view, name))  # the tally, or the answer
            elif ps.widget(st.toggle, view.t("g_reveal"), f"{name}_reveal", lang=view.lang):
                st.markdown(lesson_text(view, name))


@needs_model
def render(ctx: PageContext) -> None:
    view, inspected, probe, forcing, training = ctx.view, ctx.inspected, ctx.probe, ctx.forcing, ctx.training
    if ctx.forcing_error:
        st.caption(view.t("bad_forcing", message=md_escape(ctx.forcing_error)))
    gradient_section(view, inspected, probe, forcing)
    st.divider()
    unit_section(view, inspected, probe)
    st.divider()
    race_section(view, training)
    st.divider()
    conventions_section(view)
    st.divider()
    lesson_section(view)
