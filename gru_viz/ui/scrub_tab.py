"""Tab ②: the time-step scrubber; traces are cached per session, so stepping never recomputes the model."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from gru_viz.data import Corpus, Vocab, preprocess
from gru_viz.figures import gate_heatmaps, show_char, state_mix_figure, topk_figure
from gru_viz.inference import trace_text
from gru_viz.model import GRUScratch
from gru_viz.ui.force_tab import current_forcing
from gru_viz.ui.state import cached, timemachine
from gru_viz.ui.strings import tr

MAX_PROBE = 500
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


def default_probe(corpus: Corpus | None) -> str:
    """A passage of The Time Machine, taken from the downloaded book (never stored in this repository).

    Lines are joined with spaces here so the probe reads naturally (d2l's corpus joins them with nothing).
    """
    tm, _ = timemachine()
    source = tm or corpus
    if source is None:
        return "the time traveller for so it will be convenient to speak of him"
    text = preprocess(source.raw.replace("\n", " ")) if source.raw else source.text
    start = max(0, text.find("the time traveller for so"))
    return text[start : start + 200].rsplit(" ", 1)[0]


def _set_step(value: int) -> None:
    st.session_state["step"] = value


def _jump(chars: str, step: int) -> None:
    target = st.session_state.get("jump_char", "")[:1].lower()
    if target:
        pos = chars.find(target, step + 1)
        if pos < 0:
            pos = chars.find(target)
        if pos >= 0:
            st.session_state["step"] = pos


def _toggle_play() -> None:
    st.session_state["playing"] = not st.session_state.get("playing", False)


def units_to_show(mode: str, Z: np.ndarray) -> np.ndarray | None:
    if mode == "active":
        return np.sort(np.argsort(-Z.std(axis=0))[:32])
    if mode == "first":
        return np.arange(min(64, Z.shape[1]))
    return None


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


def _scrubber(lang: str, trace, vocab: Vocab) -> None:
    ss = st.session_state
    steps = len(trace.tokens)
    ss["step"] = min(max(int(ss.get("step", 0)), 0), steps - 1)
    if ss.get("playing"):
        if ss["step"] >= steps - 1:
            ss["playing"] = False
            st.rerun()
        ss["step"] += 1
    step = ss["step"]
    c = st.columns([1, 1, 1, 1, 1.3, 2.2])
    c[0].button(tr("first", lang), icon=":material/first_page:", on_click=_set_step, args=(0,), key="b_first",
                shortcut="Home", width="stretch")
    c[1].button(tr("prev", lang), icon=":material/chevron_left:", on_click=_set_step, args=(max(step - 1, 0),),
                key="b_prev", shortcut="Left", width="stretch")
    c[2].button(tr("next", lang), icon=":material/chevron_right:", on_click=_set_step,
                args=(min(step + 1, steps - 1),), key="b_next", shortcut="Right", width="stretch")
    c[3].button(tr("last", lang), icon=":material/last_page:", on_click=_set_step, args=(steps - 1,), key="b_last",
                shortcut="End", width="stretch")
    playing = ss.get("playing", False)
    if c[4].button(tr("pause_play" if playing else "play", lang), key="b_play", shortcut="Space", width="stretch",
                   icon=":material/pause:" if playing else ":material/play_arrow:"):
        _toggle_play()
        st.rerun()  # the whole page, so the fragment is declared again with (or without) its timer
    c[5].text_input(tr("jump", lang), key="jump_char", max_chars=1, help=tr("jump_help", lang),
                    on_change=_jump, args=(trace.text, step), label_visibility="collapsed",
                    placeholder=tr("jump", lang) + " …")
    if steps > 1:
        st.slider(tr("step", lang), 0, steps - 1, key="step")
    step = ss["step"]
    ch = trace.text[step]
    st.markdown(f"#### {html.escape(tr('at_step', lang, t=step, ch=show_char(ch)))}")
    st.markdown(tape_html(trace.text, step), unsafe_allow_html=True)
    units = units_to_show(ss.get("units_mode", "active"), trace.Z)
    left, right = st.columns([3, 2])
    left.plotly_chart(gate_heatmaps(trace.R, trace.Z, trace.text, step, units,
                                    titles=(tr("r_title", lang), tr("z_title", lang))),
                      key="heatmaps", config={"displaylogo": False})
    names = tuple(tr("mix_names", lang).split("|"))
    right.plotly_chart(state_mix_figure(trace.H_prev[step], trace.H_tilde[step], trace.H[step], trace.Z[step], units,
                                        names=names), key="mix", config={"displaylogo": False})
    right.plotly_chart(topk_figure(trace.probs[step], vocab.idx_to_token, 5, title=tr("next_char", lang)),
                       key="topk", config={"displaylogo": False})
    u = int(ss.get("unit", 0)) % trace.H.shape[1]
    right.markdown(f"**{tr('numbers_at', lang, u=u, t=step)}**")
    right.latex(step_numbers(trace, step, u))


def render(lang: str, model: GRUScratch, vocab: Vocab, ident: tuple, corpus: Corpus | None) -> None:
    ss = st.session_state
    if "probe" not in ss:
        ss["probe"] = default_probe(corpus)
    top = st.columns([3, 1, 1])
    probe = top[0].text_area(tr("probe", lang), key="probe", height=90, max_chars=5000)
    top[1].radio(tr("units", lang), ["active", "all", "first"], key="units_mode",
                 format_func=lambda k: tr(f"units_{k}", lang))
    top[2].number_input(tr("unit_numbers", lang), 0, model.hidden - 1, 0, key="unit")
    norm = preprocess(probe)
    if not norm:
        st.warning(tr("probe_empty", lang))
        return
    if len(norm) > MAX_PROBE:
        st.caption(tr("probe_long", lang, n=MAX_PROBE))
        norm = norm[:MAX_PROBE]
    ss["_probe_len"] = len(norm)
    unknown = sum(1 for ch in norm if ch not in vocab.token_to_idx)
    if unknown:
        st.caption(tr("unknown_chars", lang, n=unknown))
    forcing, _ = current_forcing(model.hidden)
    if forcing.active:
        st.info(tr("forced_note", lang, what=forcing.describe()))
    trace = cached("trace", (ident, norm, forcing),
                   lambda: trace_text(model, vocab, norm, forcing, normalize=False), size=6)
    st.caption(tr("keys_hint", lang))
    st.fragment(run_every=PLAY_SECONDS if ss.get("playing") else None)(_scrubber)(lang, trace, vocab)
    with st.expander(tr("equations", lang), expanded=True):
        st.latex(EQUATIONS)
