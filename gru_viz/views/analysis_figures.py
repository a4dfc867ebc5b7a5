"""Pure Plotly figure builders for explain/analysis's results: how far back the error signal reaches (gradient
flow) and how much of an old state survives (memory survival), both on a log scale over the probe's characters."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from gru_viz.views.figures import COLORS, RUN_COLORS, char_ticks, columns, make_figure

# ④ draws these two charts side by side: on a tablet (1024×768, sidebar open) each is about 280 px wide. The
# builders cannot know the width, so they fit that narrowest case by count: at most MAX_CHAR_TICKS character
# labels (61 in a row overlapped there), titles and legend names broken into lines of about TITLE_WIDTH and
# LEGEND_WIDTH columns (a CJK character is two), since Plotly never wraps a title or a legend entry itself.
MAX_CHAR_TICKS = 13
TITLE_WIDTH = 34
LEGEND_WIDTH = 30
_ATOM = re.compile(r"[(（][^)）]*[)）]?|[^ (（]+")  # a word, or a bracketed group kept whole


def wrap(text: str, width: int) -> str:
    """`text` in lines of at most `width` columns joined by <br>, broken only at spaces and before a bracketed
    group, never inside one or inside a tag such as <sub>; an atom wider than `width` keeps a line of its own."""
    lines: list[str] = []
    end = 0
    for atom in _ATOM.finditer(text):
        sep, end = text[end:atom.start()], atom.end()
        if lines and columns(lines[-1] + sep + atom.group()) <= width:
            lines[-1] += sep + atom.group()
        else:
            lines.append(atom.group())
    return "<br>".join(lines)


def _log_lines_layout(target: int, chars: Sequence[str], title: str, y_title: str) -> dict:
    every = max(1, math.ceil((target + 1) / MAX_CHAR_TICKS))
    # anchored by its bottom on the plot area's top, with automargin: a title of two lines grows the top margin
    # (anchored to the container's top instead, its first line went above the figure)
    return {"title": {"text": wrap(title, TITLE_WIDTH), "automargin": True, "yref": "paper",
                      "y": 1, "yanchor": "bottom", "pad": {"b": 12}},
            "showlegend": True,
            "legend": {"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0},
            "yaxis": {"type": "log", "title": {"text": y_title}, "exponentformat": "power", "automargin": True},
            # counted back from the target, so its own character is always labelled
            "xaxis": {**char_ticks(chars, target + 1, every, start=target % every), "automargin": True}}


def gradient_flow_figure(curves: Sequence[tuple[str, np.ndarray]], chars: Sequence[str], target: int,
                         font_size: int = 13, height: int = 320, title: str = "", y_title: str = "") -> go.Figure:
    """‖∂loss_t/∂H_t'‖ against t' for several models (log scale): how far back the error signal reaches."""
    # float64: an untrained plain RNN keeps about 1e-40 of the signal over 60 steps, below float32's range
    data = [{"type": "scatter", "x": np.arange(len(norms)), "y": np.maximum(norms, 1e-300).astype(np.float64),
             "mode": "lines+markers", "name": wrap(label, LEGEND_WIDTH), "marker": {"size": 4},
             "line": {"color": RUN_COLORS[i % len(RUN_COLORS)], "width": 2.5},
             "hovertemplate": "t′ = %{x}<br>%{y:.2e}<extra>" + label + "</extra>"}
            for i, (label, norms) in enumerate(curves)]
    return make_figure(data, _log_lines_layout(target, chars, title, y_title), height, font_size)


def survival_figure(survival: np.ndarray, chars: Sequence[str], target: int, font_size: int = 13,
                    height: int = 320, title: str = "", y_title: str = "",
                    names: tuple[str, str, str] = ("10-90 % of units", "median unit", "mean over units")) -> go.Figure:
    """How much of H_t' survives in H_t through the update gate: the median unit, the 10-90 % band, and the mean
    (dotted: a few units that keep much pull it far above the typical unit)."""
    mean, median = survival.mean(axis=1), np.median(survival, axis=1)
    legend = [wrap(name, LEGEND_WIDTH) for name in names]
    lo, hi = np.quantile(survival, 0.1, axis=1), np.quantile(survival, 0.9, axis=1)
    x = np.arange(len(mean))
    floor = 1e-300  # float64 throughout: after 60 steps the typical unit keeps far less than float32 can hold
    data = [{"type": "scatter", "x": np.concatenate([x, x[::-1]]),
             "y": np.maximum(np.concatenate([hi, lo[::-1]]), floor), "fill": "toself",
             "fillcolor": "rgba(0,114,178,0.15)", "line": {"width": 0}, "hoverinfo": "skip", "name": legend[0]},
            {"type": "scatter", "x": x, "y": np.maximum(median, floor), "mode": "lines", "name": legend[1],
             "line": {"color": COLORS["hidden"], "width": 2.5},
             "hovertemplate": "t′ = %{x}<br>%{y:.2e}<extra></extra>"},
            {"type": "scatter", "x": x, "y": np.maximum(mean, floor), "mode": "lines", "name": legend[2],
             "line": {"color": COLORS["cand"], "width": 2, "dash": "dot"},
             "hovertemplate": "t′ = %{x}<br>%{y:.2e}<extra></extra>"}]
    return make_figure(data, _log_lines_layout(target, chars, title, y_title), height, font_size)
