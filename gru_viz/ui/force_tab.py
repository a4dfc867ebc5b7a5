"""Tab ③: force R and Z (presets or custom values, units, steps) and compare free against forced."""

from __future__ import annotations

import html

import streamlit as st

from gru_viz.data import Corpus, Vocab
from gru_viz.inference import predict, text_perplexity
from gru_viz.model import PRESETS, Forcing, ForcingError, GateForce, GRUScratch
from gru_viz.train import TrainConfig
from gru_viz.ui.state import cached, offline_corpus, timemachine
from gru_viz.ui.view import View, choice

PRESET_KEYS = ["free", "plain_rnn", "frozen_memory", "amnesia", "custom"]
EVAL_CHARS = 2_000
PREFIX = "time traveller"


def parse_units(text: str, hidden: int) -> tuple[int, ...] | None:
    """'0-31, 100' -> (0, …, 31, 100); empty -> None (all units). Raises ValueError with a readable message."""
    text = text.strip()
    if not text:
        return None
    units: set[int] = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"'{part}' is not a unit number or a range like 0-31") from None
        if not (0 <= a <= b < hidden):
            raise ValueError(f"'{part}' is outside 0-{hidden - 1}")
        units.update(range(a, b + 1))
    return tuple(sorted(units))


def current_forcing(hidden: int) -> tuple[Forcing, str]:
    """The forcing the visitor set up (read from session state, so every tab sees the same), and any error."""
    ss = st.session_state
    preset = ss.get("preset", "free")
    if preset not in PRESETS and preset != "custom":  # a bad link: the radio will drop it too
        preset = "free"
    if preset != "custom":
        return PRESETS[preset], ""
    try:
        units = parse_units(ss.get("f_units", ""), hidden)
    except ValueError as exc:
        return PRESETS["free"], str(exc)
    steps = tuple(ss["f_steps"]) if ss.get("f_steps_on") and ss.get("f_steps") else None
    if steps is not None:
        steps = (steps[0], steps[1] + 1)  # the slider is inclusive, GateForce ranges are half-open
    try:
        r = GateForce(ss.get("fr_val", 1.0), units, steps) if ss.get("fr_on") else GateForce()
        z = GateForce(ss.get("fz_val", 0.0), units, steps) if ss.get("fz_on") else GateForce()
    except ForcingError as exc:
        return PRESETS["free"], str(exc)
    return Forcing(reset=r, update=z), ""


def diff_html(free: str, forced: str) -> str:
    """The forced continuation with characters that differ from the free one marked; all text escaped."""
    out = []
    for i, ch in enumerate(forced):
        shown = html.escape(ch if ch != " " else "\u00a0")
        same = i < len(free) and free[i] == ch
        out.append(shown if same else f'<mark style="background:#F0E442;color:#000">{shown}</mark>')
    return "".join(out)


def eval_tokens(vocab: Vocab) -> list[int]:
    corpus, _ = timemachine()
    text = (corpus or offline_corpus()).text[:EVAL_CHARS]
    return vocab.encode(text)


def _controls(view: View, hidden: int, probe_len: int) -> None:
    labels = {k: view.t(f"preset_{k}") for k in PRESET_KEYS}
    choice(st.radio, view.t("preset"), PRESET_KEYS, "preset", view, labels.get, horizontal=True)
    st.caption(view.t(f"explain_{st.session_state.get('preset', 'free')}"))
    if st.session_state.get("preset") != "custom":
        return
    c1, c2 = st.columns(2)
    c1.toggle(view.t("force_r"), key="fr_on", bind="query-params")
    c1.slider(view.t("value") + " R", 0.0, 1.0, 1.0, 0.05, key="fr_val", bind="query-params",
              disabled=not st.session_state.get("fr_on"))
    c2.toggle(view.t("force_z"), key="fz_on", bind="query-params")
    c2.slider(view.t("value") + " Z", 0.0, 1.0, 0.0, 0.05, key="fz_val", bind="query-params",
              disabled=not st.session_state.get("fz_on"))
    c1.text_input(view.t("force_units"), key="f_units", bind="query-params", placeholder="0-31, 100")
    c2.toggle(view.t("force_steps"), key="f_steps_on", bind="query-params")
    if st.session_state.get("f_steps_on") and probe_len > 1:
        last = probe_len - 1
        cur = st.session_state.get("f_steps")
        if cur is None or cur[1] > last:
            st.session_state["f_steps"] = (0, min(last, 20))
        c2.slider(view.t("force_steps"), 0, last, key="f_steps", bind="query-params", label_visibility="collapsed")


def render(view: View, model: GRUScratch, vocab: Vocab, ident: tuple, corpus: Corpus | None,
           config: TrainConfig | None) -> None:
    from gru_viz.ui.train_tab import start_run

    probe_len = st.session_state.get("_probe_len", 100)
    _controls(view, model.hidden, probe_len)
    forcing, error = current_forcing(model.hidden)
    if error:
        st.error(view.t("bad_units", message=error))
    tokens = eval_tokens(vocab)
    free_ppl = cached("ppl", (ident, Forcing()), lambda: text_perplexity(model, tokens))
    forced_ppl = cached("ppl", (ident, forcing), lambda: text_perplexity(model, tokens, forcing))
    m = st.columns(3)
    m[0].metric(view.t("ppl_free"), f"{free_ppl:.2f}")
    m[1].metric(view.t("ppl_forced"), f"{forced_ppl:.2f}", delta=f"{forced_ppl - free_ppl:+.2f}",
                delta_color="inverse")
    m[2].caption(view.t("ppl_on", n=len(tokens)))
    free_text = cached("cont", (ident, Forcing()), lambda: predict(PREFIX, 80, model, vocab))
    forced_text = cached("cont", (ident, forcing), lambda: predict(PREFIX, 80, model, vocab, forcing))
    c1, c2 = st.columns(2)
    box = '<div style="font-family:monospace;font-size:1.05em;line-height:1.6;word-break:break-all">{}</div>'
    c1.markdown(f"**{view.t('cont_free')}**")
    c1.markdown(box.format(html.escape(free_text).replace(" ", "&nbsp;")), unsafe_allow_html=True)
    c2.markdown(f"**{html.escape(view.t('cont_forced', what=forcing.describe()))}**")
    c2.markdown(box.format(diff_html(free_text, forced_text)), unsafe_allow_html=True)
    st.caption(view.t("diff_note"))
    st.divider()
    if forcing.reset.units or forcing.update.units or forcing.reset.steps or forcing.update.steps:
        st.caption(view.t("train_forced_units"))
    if st.button(view.t("train_this_way"), help=view.t("train_this_way_help"), key="btn_train_forced",
                 disabled=not forcing.active or config is None):
        import dataclasses

        cfg = dataclasses.replace(config, force_r=forcing.reset.value, force_z=forcing.update.value)
        if start_run(view, corpus, cfg, label=forcing.describe()):
            st.rerun()
