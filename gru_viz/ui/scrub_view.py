"""The scrubber's views as the page describes them (labels, sizes, rows, attribution), shared by tab ① (the
server's trace) and tab ②'s live panel (the browser's own trace of the controls' setting)."""

from __future__ import annotations

import numpy as np

from gru_viz.data import visible_char
from gru_viz.explain.attribution import attribution
from gru_viz.explain.inference import TextTrace, trace_text
from gru_viz.nets.model import FREE, Forcing
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Inspected
from gru_viz.ui.view import View
from gru_viz.views.cell_figure import cell_layout
from gru_viz.views.figures import COLORS, GATE_COLORS, MARKER_COLOR, units_to_show
from gru_viz.views.scrub_payload import attribution_data, forcing_data

# The scrubber's words, passed to the browser in the page's language.
LABELS = ("first", "prev", "next", "last", "play", "pause_play", "step", "jump", "jump_placeholder", "jump_help",
          "unit_numbers", "at_step", "r_title", "z_title", "mix_names", "next_char", "numbers_at", "hover_help",
          "loading_unit", "charts_failed", "shortcuts_bar", "cell_title", "cell_forced", "att_title", "att_shown",
          "att_forced", "att_free", "att_help", "att_largest", "att_scale", "cell_reset", "cell_update",
          "att_stale", "cell_strength", "client_version")
CELL_LABELS = ("cell_reset", "cell_update", "cell_cand", "cell_output")


def rows_shown(mode: str, Z: np.ndarray, extra: int | None = None) -> list[int] | None:
    """The hidden units the heatmaps show (None: all), plus `extra` (a unit asked for by number) if missing."""
    base = units_to_show(mode, Z)
    if base is None:
        return None
    rows = {int(u) for u in base}
    if extra is not None and 0 <= extra < Z.shape[1]:
        rows.add(int(extra))
    return sorted(rows)


def ui_data(view: View) -> dict:
    """Labels, sizes and colours of the scrubber in this view (language, projector mode)."""
    return {"labels": {k: view.t(k) for k in LABELS},
            "axes": {**{k.replace(" ", "_"): v for k, v in view.axes.items()}, "step": view.t("ax_step")},
            "font": view.font, "projector": view.projector,
            # projector: larger type, but the heatmaps must still fit a 720-pixel-high screen
            "heights": ({"heat": 400, "mix": 380, "top": 240} if view.projector
                        else {"heat": 560, "mix": 380, "top": 220}),
            "gate_colors": GATE_COLORS, "colors": COLORS, "marker_color": MARKER_COLOR,
            "cell": cell_layout({k: view.t(k) for k in CELL_LABELS}, view.font, 400 if view.projector else 320)}


def attribution_for(trace: TextTrace, inspected: Inspected, forcing: Forcing):
    """attribution.attribution of the probe under `forcing` (about 1.5 s for 500 characters), cached per model."""
    return inspected.cached("attribution", (trace.text, forcing),
                            lambda: attribution(inspected.model, trace.tokens, forcing), size=6)


def live_scrub_view(view: View, inspected: Inspected) -> dict:
    """What ②'s panel needs to draw the scrubber's views of the browser's trace, the same from setting to setting
    (it travels with the model's weights, which are sent only when it changes): labels, the tokens as drawn."""
    tokens = list(inspected.vocab.idx_to_token)
    return {"ui": ui_data(view), "tokens": tokens,
            "visible": {ch: visible_char(ch) for ch in tokens if visible_char(ch) != ch}}


def live_scrub_setting(inspected: Inspected, model_id: str, text: str, forcing: Forcing, locked: bool,
                       shown: bool = True) -> dict:
    """What changes with the setting the server recorded (sent apart from the weights): the rows (ranked by the
    free model's Z on that probe, as ① ranks them, kept while the person types) and the attribution with the
    text and forcing it belongs to (the page marks it stale while its own setting differs). No attribution while
    a class question is open, nor while the page has its bars out of view (`shown` False: "held", the page
    keeps the bars it has and asks when they come into view; a gradient through the probe costs ~0.2 s)."""
    model, vocab = inspected.model, inspected.vocab
    rows = None
    att = None
    if text:
        free = inspected.cached("trace", (text, FREE),
                                lambda: trace_text(model, vocab, text, FREE, normalize=False), size=6)
        rows = rows_shown(str(ps.get("units_mode")), free.Z)
        if not locked and not shown:
            return {"model": model_id, "rows": rows, "attribution": None, "held": True}
        if not locked:  # this setting's matrix only (① adds the free model's beside it): one per settle
            att = {"text": text, "forcing": forcing_data(forcing),
                   "data": attribution_data(attribution_for(free, inspected, forcing))}
    return {"model": model_id, "rows": rows, "attribution": att}
