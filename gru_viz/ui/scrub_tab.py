"""Tab ②: the time-step scrubber; traces are cached per session, so stepping never recomputes the model."""

from __future__ import annotations

import html

import streamlit as st

from gru_viz.data import Vocab
from gru_viz.figures import gate_heatmaps, show_char, state_mix_figure, topk_figure, units_to_show
from gru_viz.inference import trace_text
from gru_viz.model import Forcing
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Inspected, default_probe, describe_forcing
from gru_viz.ui.chrome import error_boundary, share_box
from gru_viz.ui.exports import downloads
from gru_viz.ui.view import View

PLAY_SECONDS = 0.4
EQUATIONS = r"""
\begin{aligned}
\mathbf{Z}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{xz} + \mathbf{H}_{t-1} \mathbf{W}_{hz} + \mathbf{b}_z)\\
\mathbf{R}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{xr} + \mathbf{H}_{t-1} \mathbf{W}_{hr} + \mathbf{b}_r)\\
\tilde{\mathbf{H}}_t &= \tanh(\mathbf{X}_t \mathbf{W}_{xh} + (\mathbf{R}_t \odot \mathbf{H}_{t-1}) \mathbf{W}_{hh}
  + \mathbf{b}_h)\\
\mathbf{H}_t &= \mathbf{Z}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{Z}_t) \odot \tilde{\mathbf{H}}_t
\end{aligned}
"""


def _set_step(value: int) -> None:
    st.session_state["step"] = value


def _move(delta: int, steps: int) -> None:
    """Back and Forward count from the step shown when the button is pressed, not from the step the page had
    when it drew the button (on a page opened from a link, the slider takes its step from the URL only later)."""
    st.session_state["step"] = min(max(int(st.session_state.get("step", 0)) + delta, 0), steps - 1)


def _jump(chars: str) -> None:
    target = st.session_state.get("jump_char", "")[:1].lower()
    if target:
        pos = chars.find(target, int(st.session_state.get("step", 0)) + 1)
        if pos < 0:
            pos = chars.find(target)
        if pos >= 0:
            st.session_state["step"] = pos


def _toggle_play() -> None:
    st.session_state["playing"] = not st.session_state.get("playing", False)


def step_numbers(tr_: object, t: int, u: int) -> str:
    """LaTeX of unit u's values at step t, the mixing written out with Z_t as the weight."""
    z, r = float(tr_.Z[t, u]), float(tr_.R[t, u])
    hp, ht, h = float(tr_.H_prev[t, u]), float(tr_.H_tilde[t, u]), float(tr_.H[t, u])
    return (r"\begin{aligned}"
            rf"Z_t &= {z:.3f},\quad R_t = {r:.3f}\\ H_{{t-1}} &= {hp:+.3f},\quad \tilde H_t = {ht:+.3f}\\"
            rf"H_t &= Z_t H_{{t-1}} + (1 - Z_t)\tilde H_t\\"
            rf"&= {z:.3f}\cdot({hp:+.3f}) + {1 - z:.3f}\cdot({ht:+.3f}) = {h:+.3f}"
            r"\end{aligned}")


def tape_html(text: str, step: int, width: int = 70) -> str:
    """The probe around step t in monospace, the current character boxed; every character escaped."""
    lo = max(0, min(step - width // 2, len(text) - width))
    cells = []
    for i in range(lo, min(len(text), lo + width)):
        ch = html.escape(text[i]) if text[i] != " " else "&nbsp;"
        style = ("background:#D55E00;color:#fff;border-radius:3px;padding:0 2px;font-weight:700" if i == step
                 else "color:#555" if i < step else "color:#aaa")
        cells.append(f'<span style="{style}">{ch}</span>')
    return ('<div style="font-family:monospace;font-size:1.25em;white-space:nowrap;overflow:hidden">'
            + "".join(cells) + "</div>")


def _label(view: View, key: str) -> str:
    """Button text; in projector mode the icon and the key hint say enough, and long labels would be cut."""
    return "" if view.projector else view.t(key)


def _scrubber(view: View, trace, vocab: Vocab) -> None:
    with error_boundary(view, "scrubber"):
        _scrubber_body(view, trace, vocab)


def _scrubber_body(view: View, trace, vocab: Vocab) -> None:
    ss = st.session_state
    steps = len(trace.tokens)
    ss["step"] = min(max(int(ss.get("step", 0)), 0), steps - 1)
    if ss.get("playing"):
        if ss["step"] >= steps - 1:
            ss["playing"] = False
            st.rerun()
        ss["step"] += 1
    # In projector mode the charts come first (the presenter steps with the keyboard); controls go below them.
    controls, charts = _ordered(view, 2)
    controls = controls.container()
    c = controls.columns([1, 1, 1, 1, 1.15])  # the jump box sits beside the slider: five labels fit unclipped
    c[0].button(_label(view, "first"), icon=":material/first_page:", on_click=_set_step, args=(0,), key="b_first",
                shortcut="Home", width="stretch")
    c[1].button(_label(view, "prev"), icon=":material/chevron_left:", on_click=_move, args=(-1, steps),
                key="b_prev", shortcut="Left", width="stretch")
    c[2].button(_label(view, "next"), icon=":material/chevron_right:", on_click=_move, args=(1, steps),
                key="b_next", shortcut="Right", width="stretch")
    c[3].button(_label(view, "last"), icon=":material/last_page:", on_click=_set_step, args=(steps - 1,), key="b_last",
                shortcut="End", width="stretch")
    playing = ss.get("playing", False)
    if c[4].button(_label(view, "pause_play" if playing else "play"), key="b_play", shortcut="Space", width="stretch",
                   icon=":material/pause:" if playing else ":material/play_arrow:"):
        _toggle_play()
        st.rerun()  # the whole page, so the fragment is declared again with (or without) its timer
    row = controls.columns([4, 1.2], vertical_alignment="bottom")
    if steps > 1:
        ps.widget(row[0].slider, view.t("step"), "step", 0, steps - 1, lang=view.lang)
    row[1].text_input(view.t("jump"), key="jump_char", max_chars=1, help=view.t("jump_help"),
                      on_change=_jump, args=(trace.text,), placeholder=view.t("jump_placeholder"))
    with charts:
        _charts(view, trace, vocab)
    ps.sync_url()  # a fragment rerun does not reach the end of the page
    share_box(view)


def _ordered(view: View, n: int) -> list:
    """n containers in page order; reversed in projector mode, so what matters most is on the first screen."""
    boxes = [st.container() for _ in range(n)]
    return boxes[::-1] if view.projector else boxes


def _charts(view: View, trace, vocab: Vocab) -> None:
    ss = st.session_state
    step = ss["step"]
    ch = trace.text[step]
    head = st.columns([1, 3], vertical_alignment="center")
    head[0].markdown(f"#### {html.escape(view.t('at_step', t=step, ch=show_char(ch)))}")
    head[1].markdown(tape_html(trace.text, step), unsafe_allow_html=True)
    units = units_to_show(ss.get("units_mode", "active"), trace.Z)
    left, right = st.columns([3, 2])
    left.plotly_chart(gate_heatmaps(trace.R, trace.Z, trace.text, step, units, font_size=view.font,
                                    height=view.height(560), titles=(view.t("r_title"), view.t("z_title")),
                                    axes=view.axes),
                      key="heatmaps", config={"displaylogo": False})
    names = tuple(view.t("mix_names").split("|"))
    right.plotly_chart(state_mix_figure(trace.H_prev[step], trace.H_tilde[step], trace.H[step], trace.Z[step], units,
                                        names=names, font_size=view.font, height=view.height(460), axes=view.axes),
                       key="mix", config={"displaylogo": False})
    right.plotly_chart(topk_figure(trace.probs[step], vocab.idx_to_token, 5, title=view.t("next_char"),
                                   font_size=view.font, height=view.height(240), axes=view.axes),
                       key="topk", config={"displaylogo": False})
    u = int(ss.get("unit", 0)) % trace.H.shape[1]
    right.markdown(f"**{view.t('numbers_at', u=u, t=step)}**")
    right.latex(step_numbers(trace, step, u))


def _preset_keys(view: View) -> None:
    """Preset buttons with number-key shortcuts, so a presenter can flip the gates while scrubbing."""
    cols = st.columns(4)
    for i, key in enumerate(("free", "plain_rnn", "frozen_memory", "amnesia")):
        cols[i].button(view.t(f"preset_{key}"), key=f"k_{key}", shortcut=str(i + 1), width="stretch",
                       type="primary" if st.session_state.get("preset", "free") == key else "secondary",
                       on_click=st.session_state.__setitem__, args=("preset", key))


def render(view: View, inspected: Inspected, probe: str, forcing: Forcing) -> None:
    settings, scrubber = _ordered(view, 2)
    with settings:
        _settings(view, inspected)
    with scrubber:
        _scrub(view, inspected, probe, forcing)


def _settings(view: View, inspected: Inspected) -> None:
    with st.expander(view.t("probe_settings"), expanded=False):
        top = st.columns([3, 1, 1])
        ps.widget(top[0].text_area, view.t("probe"), "probe", lang=view.lang, shown=default_probe(),
                  height=90, max_chars=ps.MAX_PROBE_INPUT)
        ps.widget(top[1].radio, view.t("units"), "units_mode", ("active", "all", "first"), lang=view.lang,
                  format_func=lambda k: view.t(f"units_{k}"))
        ps.settle("unit", lo=0, hi=inspected.model.hidden - 1)
        ps.widget(top[2].number_input, view.t("unit_numbers"), "unit", 0, inspected.model.hidden - 1,
                  lang=view.lang)
    _preset_keys(view)


def _scrub(view: View, inspected: Inspected, norm: str, forcing: Forcing) -> None:
    model, vocab = inspected.model, inspected.vocab
    if not norm:
        st.warning(view.t("probe_empty"))
        return
    unknown = sum(1 for ch in norm if ch not in vocab.token_to_idx)
    if unknown:
        st.caption(view.t("unknown_chars", n=unknown))
    if forcing.active:
        st.info(view.t("forced_note", what=describe_forcing(view, forcing)))
    trace = inspected.cached("trace", (norm, forcing),
                   lambda: trace_text(model, vocab, norm, forcing, normalize=False), size=6)
    st.fragment(run_every=PLAY_SECONDS if st.session_state.get("playing") else None)(_scrubber)(view, trace, vocab)
    with st.expander(view.t("equations"), expanded=True):
        st.latex(EQUATIONS)
    downloads(view, inspected, trace)
