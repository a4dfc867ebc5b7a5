"""Tab ②'s browser half as a Streamlit component (ui/scrubber/force*.js with model_*.js): the model's weights go to
the page once, every control and keystroke is answered there, and the settled setting comes back here."""

from __future__ import annotations

import functools
import inspect
import math

import streamlit as st

from gru_viz.ui import page_state as ps
from gru_viz.ui.page_state import MAX_PROBE_INPUT, MAX_UNITS_TEXT, PRESET_KEYS
from gru_viz.ui.scrubber import plotly_source
from gru_viz.ui.view import View
from gru_viz.views.export_html import SCRUBBER_DIR, module_js
from gru_viz.views.model_payload import ModelPayloadError, scratch_payload
from gru_viz.views.scrub_payload import VERSION

NAME = "gru_viz.force"
KEY = "live_force"
SETTING_KEYS = ("preset", "fr_on", "fr_val", "fz_on", "fz_val", "f_units", "f_steps_on", "f_steps", "f_strength")
CSS = "\n".join((SCRUBBER_DIR / n).read_text(encoding="utf-8") for n in ("scrubber.css", "force.css"))
_ISOLATE_AT_DEFINITION = "isolate_styles" in inspect.signature(st.components.v2.component).parameters
LABELS = ("probe", "preset_free", "preset_plain_rnn", "preset_frozen_memory", "preset_amnesia", "preset_custom",
          "value_r", "value_z", "strength", "force_r", "force_z", "force_units", "force_steps", "ppl_free",
          "ppl_forced", "ppl_on_probe", "cont_free", "cont_forced", "diff_note", "curve_title", "curve_x",
          "curve_y", "curve_name", "curve_now", "free_word", "locked", "cont_from", "only_spaces", "client_version")
# labels ② already had as widgets; the others are live_<name>
SHARED = {"preset_free", "preset_plain_rnn", "preset_frozen_memory", "preset_amnesia", "preset_custom", "force_r",
          "force_z", "force_units", "force_steps", "ppl_free", "ppl_forced", "cont_free", "diff_note", "cont_from",
          "client_version"}


ATT_NAME = "gru_viz.force_setting"
ATT_KEY = "live_force_setting"
# A component with no view of its own: it hands the rows and attribution of the recorded setting to ②'s panel
# (force.js listens for "gv-attribution"), so the panel's data, which carries the model's weights, stays the
# same from rerun to rerun and is never re-sent when only the attribution changed.
ATT_JS = """export default function gvForceSetting(component) {
  window.__gvAttribution = component.data;
  window.dispatchEvent(new CustomEvent("gv-attribution"));
  return () => {};
}
"""


@functools.cache
def _att_component():
    extra = {"isolate_styles": False} if _ISOLATE_AT_DEFINITION else {}
    return st.components.v2.component(ATT_NAME, js=ATT_JS, **extra)


def live_setting_data(data: dict) -> None:
    """Mount the setting's rows and attribution (scrub_view.live_scrub_setting) beside ②'s panel."""
    extra = {} if _ISOLATE_AT_DEFINITION else {"isolate_styles": False}
    _att_component()(key=ATT_KEY, data=data, height="content", **extra)


@functools.cache
def _component():
    extra = {"isolate_styles": False} if _ISOLATE_AT_DEFINITION else {}
    return st.components.v2.component(NAME, css=CSS, js=module_js("gvForceMount"), **extra)


def model_payload_for(model, vocab) -> dict | str:
    """The model's payload for the browser, or the reason it stays on the server (a plain RNN, too large)."""
    try:
        return scratch_payload(model, vocab)
    except ModelPayloadError as exc:
        return str(exc)


def setting() -> dict:
    return {k: (list(v) if isinstance(v := ps.get(k), tuple) else v) for k in SETTING_KEYS}


def _valid(s: object) -> dict | None:
    """The browser's setting, checked field by field (never trusted); None when anything is off."""
    if not isinstance(s, dict) or s.get("version") != VERSION or s.get("preset") not in PRESET_KEYS:
        return None
    out: dict = {"preset": s["preset"]}
    for k in ("fr_on", "fz_on", "f_steps_on"):
        if type(s.get(k)) is not bool:
            return None
        out[k] = s[k]
    for k in ("fr_val", "fz_val", "f_strength"):
        v = s.get(k)
        if type(v) not in (int, float) or not math.isfinite(v) or not 0 <= v <= 1:
            return None
        out[k] = float(v)
    units, steps, probe = s.get("f_units"), s.get("f_steps"), s.get("probe")
    if not isinstance(units, str) or len(units) > MAX_UNITS_TEXT or not isinstance(probe, str) \
            or len(probe) > MAX_PROBE_INPUT:
        return None
    if steps is not None and not (isinstance(steps, list) and len(steps) == 2 and all(type(x) is int for x in steps)
                                  and 0 <= steps[0] <= steps[1] <= MAX_PROBE_INPUT):
        return None
    out.update(f_units=units, f_steps=None if steps is None else (steps[0], steps[1]), probe=probe)
    return out


def _settled() -> None:
    """The browser's settled setting: recorded (address bar, Share link, "Train it this way"); nothing redrawn.
    With it the page says whether its attribution bars are in view (`att`): only then are they computed."""
    state = st.session_state.get(KEY)
    told = state.get("setting") if hasattr(state, "get") else None
    s = _valid(told)
    if s is None:
        return
    for k, v in s.items():
        ps.put(k, v)
    ps.put("_force_att", told.get("att") is True)


def force_data(view: View, payload: dict | str, probe: str, locked: bool, max_chars: int,
               scrub: dict | None = None, teacher: bool = False) -> dict:
    """What ②'s browser half gets: the model (`model_payload_for`'s dict, or the reason it stays on the server),
    the probe, the setting, the class lock and the labels, and `scrub` (scrub_view.live_scrub_view: how the
    scrubber's views of the browser's trace are drawn; the rows and attribution come apart, `live_setting_data`;
    None in an exported page, whose own scrubber the panel drives). The same from rerun to rerun unless one of
    them changed, so Streamlit sends it as a short reference and the page redraws nothing."""
    ui = {k: view.t(k if k in SHARED else f"live_{k}") for k in LABELS}
    if teacher:  # the class's teacher reveals the answer: the note speaks to them
        ui["locked"] = view.t("live_locked_teacher")
    ui["probe_max"] = MAX_PROBE_INPUT
    ui["projector"] = view.projector
    if not isinstance(payload, dict):
        ui["server_only"] = view.t("live_server_only", reason=payload)
    return {"version": VERSION, "model": payload if isinstance(payload, dict) else None, "probe": probe,
            "setting": setting(), "locked": locked, "ui": ui, "plotly": plotly_source(),
            # the probe as probe.probe_text reads it (normalised, cut to max_chars); continuations of 80
            # characters from probe.probe_prefix of it
            "cont": {"n": 80, "max_chars": max_chars}, "scrub": scrub}


def live_force(data: dict) -> None:
    """Mount ②'s browser half with `force_data`'s dict; the settled setting comes back through `_settled`."""
    extra = {} if _ISOLATE_AT_DEFINITION else {"isolate_styles": False}
    _component()(key=KEY, data=data, on_setting_change=_settled, height="content", **extra)
