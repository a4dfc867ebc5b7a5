"""Tab ②: force R and Z (presets or custom values, units, steps) and compare free against forced."""

from __future__ import annotations

import dataclasses
import html
import os

import streamlit as st

from gru_viz.explain.inference import predict, text_perplexity
from gru_viz.nets.model import FREE, Forcing
from gru_viz.ui import class_panel, class_questions
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Inspected, Training, describe_forcing, start_run
from gru_viz.ui.context import PageContext, needs_model
from gru_viz.ui.page_state import PRESET_KEYS
from gru_viz.ui.probe import MAX_PROBE, model_default_probe, probe_label, probe_prefix
from gru_viz.ui.scrub_view import live_scrub_setting, live_scrub_view
from gru_viz.ui.view import View, math_html, md_escape


def diff_html(free: str, forced: str) -> str:
    """The forced continuation with characters that differ from the free one marked; all text escaped.

    A differing space is marked as '␣' (a highlighted blank would be an empty yellow block)."""
    out = []
    for i, ch in enumerate(forced):
        same = i < len(free) and free[i] == ch
        shown = html.escape(ch if same or ch != " " else "␣")
        out.append(shown if same else f'<mark style="background:#F0E442;color:#000">{shown}</mark>')
    return "".join(out)


def probe_box(view: View, inspected: Inspected, probe: str) -> None:
    """The text every number below is measured on, shown and editable here as in ① (one setting, `probe`)."""
    with st.expander(view.t("ppl_text_title", n=len(probe)), expanded=not view.projector):  # numbers first
        ps.widget(st.text_area, probe_label(view, inspected), "probe", lang=view.lang,
                  shown=model_default_probe(inspected), height=90)
        st.caption(view.t("ppl_text_note"))


def _controls(view: View, probe_len: int) -> None:
    w, lang = ps.widget, view.lang
    ps.settle("preset", PRESET_KEYS)
    preset = w(st.radio, view.t("preset"), "preset", lang=lang,
               format_func=lambda k: view.t(f"preset_{k}"), horizontal=True)
    st.caption(math_html(view.t(f"explain_{preset}")), unsafe_allow_html=True)  # H_{t−1} as Hₜ₋₁
    if preset != "custom":
        return
    c1, c2 = st.columns(2)
    w(c1.toggle, view.t("force_r"), "fr_on", lang=lang)
    w(c1.slider, view.t("value") + " R", "fr_val", lang=lang, disabled=not ps.get("fr_on"))
    w(c2.toggle, view.t("force_z"), "fz_on", lang=lang)
    w(c2.slider, view.t("value") + " Z", "fz_val", lang=lang, disabled=not ps.get("fz_on"))
    w(c1.text_input, view.t("force_units"), "f_units", lang=lang,
      placeholder="0-31, 100")
    w(c2.toggle, view.t("force_steps"), "f_steps_on", lang=lang)
    if ps.get("f_steps_on") and probe_len > 1:
        last = probe_len - 1
        if ps.get("f_steps") is None:
            ps.put("f_steps", (0, min(last, 20)))
        ps.settle("f_steps", lo=0, hi=last)
        w(c2.slider, view.t("force_steps"), "f_steps", 0, last, lang=lang, label_visibility="collapsed")


@needs_model
def render(ctx: PageContext) -> None:
    from gru_viz.ui import live_force

    payload = ctx.inspected.cached("browser_model", (), lambda: live_force.model_payload_for(
        ctx.inspected.model, ctx.inspected.vocab), size=2)
    # GRU_VIZ_LIVE_FORCE=0 keeps ② on the server (the fallback for models that stay there; AppTest runs no JS)
    if isinstance(payload, dict) and os.environ.get("GRU_VIZ_LIVE_FORCE", "1") != "0":
        _render_live(ctx, payload)
    else:
        if not isinstance(payload, dict):
            st.caption(ctx.view.t("live_server_only", reason=payload))
        _render_server(ctx)


def _render_live(ctx: PageContext, payload: dict) -> None:
    """② in the browser: the probe, the controls and their results answer there (ui/scrubber/force.js); this
    run only records the settled setting and, in a class, asks the question before the results."""
    from gru_viz.ui import live_force

    view, inspected, forcing, probe = ctx.view, ctx.inspected, ctx.forcing, ctx.probe
    locked = False
    if class_panel.current() is not None and probe:
        # the class's numbers are the teacher's, measured here; a student's page computes nothing forced first
        tokens = inspected.vocab.encode(probe)
        free_ppl = inspected.cached("ppl", (probe, FREE), lambda: text_perplexity(inspected.model, tokens))
        forced_ppl = inspected.cached("ppl", (probe, forcing),
                                      lambda: text_perplexity(inspected.model, tokens, forcing))
        locked = not class_questions.forcing_question(view, str(ps.get("preset")), free_ppl, forced_ppl, probe)
    raw = ps.get("probe")
    shown = model_default_probe(inspected) if raw is None else str(raw)
    # the scrubber's views of the page's own trace; the rows and attribution of this (settled) setting go apart
    # (recomputed here only when the setting settles, cached per text and forcing; marked stale on the page
    # until then), so the panel's data with the weights stays a short reference
    scrub = live_scrub_view(view, inspected)
    member = class_panel.current()
    live_force.live_force(_unchanged_unless_the_server_moved(
        live_force.force_data(view, payload, shown, locked, MAX_PROBE, scrub,
                              teacher=member is not None and member.teacher)))
    live_force.live_setting_data(live_scrub_setting(inspected, payload["id"], probe, forcing, locked,
                                                    shown=bool(ps.get("_force_att"))))
    st.divider()
    _train_this_way(view, forcing, ctx.training)


def _unchanged_unless_the_server_moved(data: dict) -> dict:
    """The data with the setting and probe it last carried while they are only what the browser reported (its
    own settled setting, which it ignores when it comes back): the data then stays identical from rerun to rerun,
    so Streamlit sends a short reference instead of the model's weights again (1.2 MB for d2l's 256 units; see
    docs/LOADTEST.md). A setting the server changed (a link, ①'s preset keys, a lesson) goes out as it is."""
    from gru_viz.ui import live_force

    now = {"setting": data["setting"], "probe": data["probe"]}
    state = ps.component_value(live_force.KEY)
    told = live_force._valid(state.get("setting") if hasattr(state, "get") else None)
    if told is not None:  # in setting()'s form: a list for the step range, the probe apart
        probe, steps = told.pop("probe"), told["f_steps"]
        told = {"setting": {**told, "f_steps": None if steps is None else list(steps)}, "probe": probe}
    sent = ps.get("_force_sent")
    if sent is not None and told == now:
        return {**data, **sent}
    ps.put("_force_sent", now)
    return data


def _render_server(ctx: PageContext) -> None:
    view, inspected, forcing, forcing_error, probe, training = (ctx.view, ctx.inspected, ctx.forcing,
                                                                ctx.forcing_error, ctx.probe, ctx.training)
    model, vocab = inspected.model, inspected.vocab
    _controls(view, len(probe))
    if forcing_error:
        st.error(view.t("bad_forcing", message=md_escape(forcing_error)))
    probe_box(view, inspected, probe)
    if not probe:
        st.warning(view.t("probe_empty"))
        return
    text, prefix = probe, probe_prefix(probe)
    tokens = vocab.encode(text)
    free_ppl = inspected.cached("ppl", (text, FREE), lambda: text_perplexity(model, tokens))
    forced_ppl = inspected.cached("ppl", (text, forcing), lambda: text_perplexity(model, tokens, forcing))
    if not class_questions.forcing_question(view, str(ps.get("preset")), free_ppl, forced_ppl, text):
        return  # a class predicts first: the results wait for the teacher's reveal
    m = st.columns(3)
    m[0].metric(view.t("ppl_free"), f"{free_ppl:.2f}")
    delta = forced_ppl - free_ppl
    m[1].metric(view.t("ppl_forced"), f"{forced_ppl:.2f}", delta=f"{delta:+.2f}" if round(delta, 2) else None,
                delta_color="inverse")
    m[2].caption(view.t("ppl_on_text", n=len(tokens)))
    free_text = inspected.cached("cont", (prefix, FREE), lambda: predict(prefix, 80, model, vocab))
    forced_text = inspected.cached("cont", (prefix, forcing), lambda: predict(prefix, 80, model, vocab, forcing))
    c1, c2 = st.columns(2)
    # word-break only where there is no space to break at: a continuation wraps between words
    box = ('<div style="font-family:monospace;font-size:1.05em;line-height:1.6;white-space:pre-wrap;'
           'overflow-wrap:anywhere">{}</div>')
    st.caption(view.t("cont_from", prefix=md_escape(prefix)))
    c1.markdown(f"**{view.t('cont_free')}**")
    c1.markdown(box.format(html.escape(free_text)), unsafe_allow_html=True)
    c2.markdown(f"**{html.escape(view.t('cont_forced', what=describe_forcing(view, forcing)))}**")
    c2.markdown(box.format(diff_html(free_text, forced_text)), unsafe_allow_html=True)
    st.caption(view.t("diff_note"))
    st.divider()
    _train_this_way(view, forcing, training)


def _train_this_way(view: View, forcing: Forcing, training: Training) -> None:
    """Train a new model with this forcing held during training: the sidebar's settings and seed, said aloud."""
    cfg = training.config
    if cfg is not None:
        st.caption(view.ts("train_this_way_settings", hidden=cfg.hidden, epochs=cfg.epochs, lr=cfg.lr,
                          engine=view.t(f"engine_short_{cfg.engine}")))
    if st.button(view.t("train_this_way"), help=view.t("train_this_way_help"), key="btn_train_forced",
                 disabled=not forcing.active or cfg is None):
        if start_run(view, training, dataclasses.replace(cfg, forcing=forcing), label=describe_forcing(view, forcing)):
            ps.put("tab", "train")  # the run's live curve is on the Train tab: go there
            st.rerun()
