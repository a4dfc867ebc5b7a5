"""Pure Plotly figure builders for explain/analysis's results: how far back the error signal reaches (gradient
flow) and how much of an old state survives (memory survival), both on a log scale over the probe's characters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from gru_viz.views.figures import COLORS, RUN_COLORS, char_ticks, make_figure


def _log_lines_layout(target: int, chars: Sequence[str], title: str, y_title: str) -> dict:
    return {"title": {"text": title}, "showlegend": True,
            "legend": {"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0},
            "yaxis": {"type": "log", "title": {"text": y_title}, "exponentformat": "power"},
            "xaxis": char_ticks(chars, target + 1, max(1, (target + 1) // 40))}


def gradient_flow_figure(curves: Sequence[tuple[str, np.ndarray]], chars: Sequence[str], target: int,
                         font_size: int = 13, height: int = 320, title: str = "", y_title: str = "") -> go.Figure:
    """‖∂loss_t/∂H_t'‖ against t' for several models (log scale): how far back the error signal reaches."""
    # float64: an untrained plain RNN keeps about 1e-40 of the signal over 60 steps, below float32's range
    data = [{"type": "scatter", "x": np.arange(len(norms)), "y": np.maximum(norms, 1e-300).astype(np.float64),
             "mode": "lines+markers", "name": label, "marker": {"size": 4},
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
    lo, hi = np.quantile(survival, 0.1, axis=1), np.quantile(survival, 0.9, axis=1)
    x = np.arange(len(mean))
    floor = 1e-300  # float64 throughout: after 60 steps the typical unit keeps far less than float32 can hold
    data = [{"type": "scatter", "x": np.concatenate([x, x[::-1]]),
             "y": np.maximum(np.concatenate([hi, lo[::-1]]), floor), "fill": "toself",
             "fillcolor": "rgba(0,114,178,0.15)", "line": {"width": 0}, "hoverinfo": "skip", "name": names[0]},
            {"type": "scatter", "x": x, "y": np.maximum(median, floor), "mode": "lines", "name": names[1],
             "line": {"color": COLORS["hidden"], "width": 2.5},
             "hovertemplate": "t′ = %{x}<br>%{y:.2e}<extra></extra>"},
            {"type": "scatter", "x": x, "y": np.maximum(mean, floor), "mode": "lines", "name": names[2],
             "line": {"color": COLORS["cand"], "width": 2, "dash": "dot"},
             "hovertemplate": "t′ = %{x}<br>%{y:.2e}<extra></extra>"}]
    return make_figure(data, _log_lines_layout(target, chars, title, y_title), height, font_size)
