"""Tab ①: the time-step scrubber. A probe's whole trace goes to the browser once (gru_viz/ui/scrubber); every step,
hover and click is answered there, and the server hears only the settled step and unit (docs/SCRUBBER.md)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from gru_viz.explain.inference import TextTrace, trace_text
from gru_viz.nets.model import FREE, PRESETS, Forcing
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Inspected, describe_forcing
from gru_viz.ui.chrome import error_boundary, share_box
from gru_viz.ui.context import PageContext, needs_model
from gru_viz.ui.exports import downloads
from gru_viz.ui.probe import model_default_probe, probe_label
from gru_viz.ui.scrub_view import attribution_for, rows_shown, ui_data
from gru_viz.ui.scrubber import plotly_source, reported_view, scrubber
from gru_viz.ui.view import View
from gru_viz.views.export_html import scrubber_html
from gru_viz.views.figures import units_to_show
from gru_viz.views.scrub_payload import attribution_data, scrub_payload

EQUATIONS = r"""
\begin{aligned}
\mathbf{Z}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{xz} + \mathbf{H}_{t-1} \mathbf{W}_{hz} + \mathbf{b}_z)\\
\mathbf{R}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{xr} + \mathbf{H}_{t-1} \mathbf{W}_{hr} + \mathbf{b}_r)\\
\tilde{\mathbf{H}}_t &= \tanh(\mathbf{X}_t \mathbf{W}_{xh} + (\mathbf{R}_t \odot \mathbf{H}_{t-1}) \mathbf{W}_{hh}
  + \mathbf{b}_h)\\
\mathbf{H}_t &= \mathbf{Z}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{Z}_t) \odot \tilde{\mathbf{H}}_t
\end{aligned}
"""
# nn.GRU's cell (a model from a notebook's concise GRU): the reset gate after the recurrent product, b_hn inside
TORCH_EQUATIONS = r"""
\begin{aligned}
\mathbf{Z}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{iz} + \mathbf{b}_{iz}
  + \mathbf{H}_{t-1} \mathbf{W}_{hz} + \mathbf{b}_{hz})\\
\mathbf{R}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{ir} + \mathbf{b}_{ir}
  + \mathbf{H}_{t-1} \mathbf{W}_{hr} + \mathbf{b}_{hr})\\
\tilde{\mathbf{H}}_t &= \tanh(\mathbf{X}_t \mathbf{W}_{in} + \mathbf{b}_{in}
  + \mathbf{R}_t \odot (\mathbf{H}_{t-1} \mathbf{W}_{hn} + \mathbf{b}_{hn}))\\
\mathbf{H}_t &= \mathbf{Z}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{Z}_t) \odot \tilde{\mathbf{H}}_t
\end{aligned}
"""
def payload_for(trace: TextTrace, inspected: Inspected, rows: list[int] | None) -> dict:
    """The browser's copy of the trace; built once per (model, probe, forcing, rows) and shared like the trace.
    With a forcing, the free model's attribution goes along, so the two can be shown side by side."""
    def build() -> dict:
        free = attribution_for(trace, inspected, FREE) if trace.forcing.active else None
        att = attribution_data(attribution_for(trace, inspected, trace.forcing), free)
        return scrub_payload(trace, inspected.vocab.idx_to_token, rows, att)

    key = (trace.text, trace.forcing, None if rows is None else tuple(rows))
    return inspected.cached("scrub_payload", key, build, size=6)


# --- step and unit: the browser owns them; the server keeps the settled values for the URL and the share link --


def ranking_Z(trace: TextTrace, inspected: Inspected) -> np.ndarray:
    """The Z the "most active units" are ranked by: the free model's on this probe, so switching a preset keeps
    the same 32 units drawn and the chosen unit among them (a forced Z would rank other units first)."""
    if not trace.forcing.active:
        return trace.Z
    free = inspected.cached("trace", (trace.text, FREE),
                            lambda: trace_text(inspected.model, inspected.vocab, trace.text, FREE, normalize=False),
                            size=6)
    return free.Z


def _step_and_unit(trace: TextTrace, rank_Z: np.ndarray) -> tuple[int, int]:
    """The settled step and unit (from a link, else step 0 and the first unit shown; then as the browser reports
    them), clamped to this trace (a shorter probe, a smaller model, a doctored message)."""
    steps, hidden = trace.H.shape
    unit = ps.get("unit")
    if unit is None:  # none chosen: the first unit the heatmaps show, so the worked numbers are on screen
        base = units_to_show(str(ps.get("units_mode")), rank_Z)
        unit = 0 if base is None else int(base[0])
    step = min(max(int(ps.get("step")), 0), steps - 1)
    unit = min(max(int(unit), 0), hidden - 1)
    ps.put("step", step)
    return step, unit


def _goto(step: int, unit: int) -> dict:
    """What the browser should move to: changes only when the server changed the step or unit (a link, a new
    probe that is shorter), never when the browser reported them, so reruns re-send identical data."""
    if ps.get("_scrub_seen") != (step, unit):
        ps.put("_scrub_goto", {"step": step, "unit": unit, "n": ps.get("_scrub_goto").get("n", 0) + 1})
        ps.put("_scrub_seen", (step, unit))
    return ps.get("_scrub_goto")


def _on_view() -> None:
    """The browser settled on a step and unit (a callback: runs before the fragment's body)."""
    got = reported_view()
    if got is not None:
        ps.put("step", got[0])
        ps.put("unit", got[1])
        ps.put("_scrub_seen", got)


def _note_extra_unit(rank_Z: np.ndarray, unit: int) -> None:
    """A unit outside the rows shown (asked for by number or by a link) gets a row; it keeps it until another
    such unit is asked for, so clicking among the rows never changes the payload."""
    base = units_to_show(str(ps.get("units_mode")), rank_Z)
    if base is not None and unit not in base:
        ps.put("_scrub_extra", unit)


def scrubber_data(view: View, trace: TextTrace, inspected: Inspected, goto: dict,
                  rank_Z: np.ndarray | None = None) -> dict:
    """Everything the scrubber component gets: identical from rerun to rerun unless the trace, the view or a
    server-side goto changed (so Streamlit re-sends it as a short reference and the browser redraws nothing)."""
    rank_Z = ranking_Z(trace, inspected) if rank_Z is None else rank_Z
    rows = rows_shown(str(ps.get("units_mode")), rank_Z, ps.get("_scrub_extra"))
    return {"payload": payload_for(trace, inspected, rows), "ui": ui_data(view), "goto": goto}


def _scrubber(view: View, trace: TextTrace, inspected: Inspected) -> None:
    """The fragment: a settled step reruns only this, and the component's data is the same as before."""
    with error_boundary(view, "scrubber"):
        rank_Z = ranking_Z(trace, inspected)
        step, unit = _step_and_unit(trace, rank_Z)
        _note_extra_unit(rank_Z, unit)
        data = scrubber_data(view, trace, inspected, _goto(step, unit), rank_Z)
        scrubber({**data, "ui": {**data["ui"], "plotly": plotly_source()}}, _on_view)
        ps.sync_url()  # a fragment rerun does not reach the end of the page, where the URL is written otherwise
        _download_view(view, {**data, "goto": {"step": step, "unit": unit, "n": 1}}, trace, inspected)
    share_box(view)


def _download_view(view: View, data: dict, trace: TextTrace, inspected: Inspected) -> None:
    """The scrubber as one HTML file, opening on the settled step and unit (drawn in the fragment so it follows
    them), with the model's weights and ②'s panel where the model runs in a browser (typed text and the gates
    work offline too); the page is built only when the button is pressed."""
    from gru_viz.ui import live_force
    from gru_viz.ui.probe import MAX_PROBE

    name = inspected.name
    payload = inspected.cached("browser_model", (), lambda: live_force.model_payload_for(inspected.model,
                                                                                         inspected.vocab), size=2)
    force = (live_force.force_data(view, payload, trace.text, False, MAX_PROBE) if isinstance(payload, dict)
             else None)
    what = describe_forcing(view, trace.forcing)
    title, subtitle = f"{view.t('title')} · {name}", view.t("html_subtitle", what=what)
    st.download_button(view.t("dl_html"), file_name=f"{name}_scrubber.html", mime="text/html", key="dl_html",
                       data=lambda: scrubber_html(data, title, subtitle, lang=view.lang, force=force).encode("utf-8"),
                       on_click="ignore", icon=":material/download:", help=view.t("dl_html_help"))


# --- the tab --------------------------------------------------------------------------------


def _ordered(view: View, n: int) -> list:
    """n containers in page order; reversed in projector mode, so what matters most is on the first screen."""
    boxes = [st.container() for _ in range(n)]
    return boxes[::-1] if view.projector else boxes


def _preset_keys(view: View) -> None:
    """Preset buttons with number-key shortcuts, so a presenter can flip the gates while scrubbing."""
    row = st.container(horizontal=True)  # wraps onto a second line where four do not fit (a tablet)
    for i, key in enumerate(PRESETS):  # the presets in their one order: free, plain RNN, frozen memory, amnesia
        row.button(view.t(f"preset_{key}"), key=f"k_{key}", shortcut=str(i + 1), width="content",
                       type="primary" if ps.get("preset") == key else "secondary",
                       on_click=ps.put, args=("preset", key))


@needs_model
def render(ctx: PageContext) -> None:
    view, inspected, probe, forcing = ctx.view, ctx.inspected, ctx.probe, ctx.forcing
    settings, scrub = _ordered(view, 2)
    with settings:
        _settings(view, inspected)
    with scrub:
        _scrub(view, inspected, probe, forcing)


def _settings(view: View, inspected: Inspected) -> None:
    with st.expander(view.t("probe_settings"), expanded=False):
        top = st.columns([3, 1])
        shown = model_default_probe(inspected)
        ps.widget(top[0].text_area, probe_label(view, inspected), "probe", lang=view.lang, shown=shown, height=90)
        ps.widget(top[1].radio, view.t("units"), "units_mode", lang=view.lang,
                  format_func=lambda k: view.t(f"units_{k}"))
    if not view.projector:  # on a projector they come right under the charts instead (_scrub)
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
    st.fragment(_scrubber)(view, trace, inspected)
    if view.projector:  # right under the charts, not below the equations and the downloads at the page's end
        _preset_keys(view)
    with st.expander(view.t("equations"), expanded=True):
        torch_cell = getattr(model, "convention", "d2l") == "torch"
        if torch_cell:
            st.caption(view.t("convention_torch"))
        st.latex(TORCH_EQUATIONS if torch_cell else EQUATIONS)
    downloads(view, inspected, trace)
