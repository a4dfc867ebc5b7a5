"""Pure Plotly figure builders: NumPy arrays in, a go.Figure out; no Streamlit, no model code.

Gates use one fixed [0, 1] colour-blind-safe sequential scale and states one diverging scale centred on 0,
so every picture of the app can be compared with every other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Axis words, overridable per call so the UI can pass them in another language.
AXES = {"unit": "unit", "gate": "gate", "value": "value", "hidden unit": "hidden unit", "probability": "probability",
        "epoch": "epoch", "perplexity": "perplexity"}
GATE_SCALE = "Cividis"
STATE_SCALE = "RdBu"
COLORS = {"prev": "#7f7f7f", "cand": "#E69F00", "hidden": "#0072B2", "forced": "#D55E00", "free": "#0072B2"}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
RUN_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


# A small white template, built once: naming "plotly_white" costs about 15 ms per figure (it is copied and
# validated every time), which adds up on a server that draws seven figures per rerun for every visitor.
_GRID = "#E5ECF6"
LIGHT = go.layout.Template(layout=dict(
    paper_bgcolor="white", plot_bgcolor="white", font=dict(color="#2a3f5f"),
    xaxis=dict(gridcolor=_GRID, zerolinecolor=_GRID, linecolor=_GRID), yaxis=dict(gridcolor=_GRID, zerolinecolor=_GRID,
                                                                                linecolor=_GRID)))


def _figure(data=None) -> go.Figure:
    return go.Figure(data=data, layout={"template": LIGHT})


def _subplots(**kwargs) -> go.Figure:
    return make_subplots(figure=_figure(), **kwargs)


def show_char(ch: str) -> str:
    """Characters as the axes show them: a space is '␣'."""
    return "␣" if ch == " " else ch


def _base_layout(fig: go.Figure, height: int, font_size: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=40, b=40), font=dict(size=font_size),
                      hoverlabel=dict(font_size=font_size))
    fig.update_annotations(font_size=font_size)  # subplot titles follow the projector's larger type
    return fig


def perplexity_figure(runs: Sequence[tuple[str, Sequence[dict]]], font_size: int = 13, height: int = 340,
                      title: str = "Perplexity per epoch", axes: dict | None = None) -> go.Figure:
    """One line per run (label, history of {'epoch', 'perplexity'}); log y, as the curve spans 28 down to 1."""
    fig = _figure()
    for i, (label, history) in enumerate(runs):
        epochs = [h["epoch"] for h in history]
        ppl = [min(float(h["perplexity"]), 1e6) for h in history]  # an infinite value would break the axis
        fig.add_trace(go.Scatter(x=epochs, y=ppl, mode="lines", name=label,
                                 line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2.5),
                                 hovertemplate="epoch %{x}<br>perplexity %{y:.3f}<extra>" + label + "</extra>"))
    ax = {**AXES, **(axes or {})}
    fig.update_xaxes(title_text=ax["epoch"], rangemode="tozero")
    ticks = [1, 1.2, 1.5, 2, 3, 5, 10, 20, 30, 100, 1000]
    fig.update_yaxes(title_text=ax["perplexity"], type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                     minor=dict(showgrid=False))
    fig.update_layout(title=title, showlegend=True,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    return _base_layout(fig, height, font_size)


def gate_heatmaps(R: np.ndarray, Z: np.ndarray, chars: Sequence[str], step: int,
                  units: np.ndarray | None = None, font_size: int = 13, height: int = 560, window: int = 80,
                  titles: tuple[str, str] = ("Reset gate R<sub>t</sub>", "Update gate Z<sub>t</sub>"),
                  axes: dict | None = None) -> go.Figure:
    """R and Z as hidden units × time steps, the probe's characters along x, a marker at `step`.

    R and Z are (steps, hidden); `units` picks and orders the rows shown (default: all). The x axis opens on a
    window of `window` steps around `step` so every character is legible; pan or zoom out for the rest.
    """
    ax = {**AXES, **(axes or {})}
    steps = R.shape[0]
    idx = np.arange(R.shape[1]) if units is None else np.asarray(units)
    fig = _subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=titles)
    labels = [f"{t}:{show_char(c)}" for t, c in enumerate(chars)]
    # With all units the row number is the unit; a subset carries its unit numbers for the hover (small then).
    unit_ref = "%{y}" if units is None else "%{customdata}"
    custom = None if units is None else np.broadcast_to(idx[:, None], (len(idx), steps)).astype(np.int32)
    for row, (gate, name) in enumerate(((R, "R"), (Z, "Z")), start=1):
        fig.add_trace(go.Heatmap(
            z=gate[:, idx].T.astype(np.float32), zmin=0.0, zmax=1.0, colorscale=GATE_SCALE, showscale=row == 1,
            colorbar=dict(title=dict(text=ax["gate"]), len=0.9, tickvals=[0, 0.5, 1]), customdata=custom,
            hovertemplate=f"step %{{x}}<br>unit {unit_ref}<br>{name} = %{{z:.3f}}<extra></extra>",
            name=name), row=row, col=1)
        fig.update_yaxes(title_text=ax["unit"], row=row, col=1, autorange="reversed", showgrid=False)
        fig.add_vline(x=step, line=dict(color="#D55E00", width=3), row=row, col=1)
    lo = min(max(step - window // 2, 0), max(steps - window, 0))
    x_range = [lo - 0.5, min(steps, lo + window) - 0.5]
    fig.update_xaxes(range=x_range, showgrid=False)
    fig.update_xaxes(tickvals=list(range(steps)), ticktext=[show_char(c) for c in chars[:steps]], tickangle=0,
                     tickfont=dict(size=font_size - 1), row=2, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_layout(meta={"step": int(step), "labels_shown": len(labels)})
    return _base_layout(fig, height, font_size)


def state_mix_figure(h_prev: np.ndarray, h_tilde: np.ndarray, h: np.ndarray, z: np.ndarray,
                     units: np.ndarray | None = None, font_size: int = 13, height: int = 460,
                     names: tuple[str, str, str, str] = ("H<sub>t−1</sub>", "candidate H̃<sub>t</sub>",
                                                         "state H<sub>t</sub>", "update gate Z<sub>t</sub>"),
                     axes: dict | None = None) -> go.Figure:
    """At one step: per unit, a segment from H̃_t to H_{t−1} with H_t on it, and Z_t (the mixing weight) below.

    H_t = Z_t⊙H_{t−1} + (1−Z_t)⊙H̃_t, so H_t sits a fraction Z_t of the way from H̃_t towards H_{t−1}.
    """
    ax = {**AXES, **(axes or {})}
    idx = np.arange(h.shape[0]) if units is None else np.asarray(units)
    x = np.arange(len(idx))
    fig = _subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    seg_x = np.repeat(x, 3).astype(np.float32)
    seg_y = np.stack([h_tilde[idx], h_prev[idx], np.full(len(idx), np.nan)], axis=1).ravel().astype(np.float32)
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color="#c8c8c8", width=1.5),
                             hoverinfo="skip", showlegend=False), row=1, col=1)
    for arr, name, color, symbol in ((h_prev, names[0], COLORS["prev"], "circle-open"),
                                     (h_tilde, names[1], COLORS["cand"], "diamond"),
                                     (h, names[2], COLORS["hidden"], "circle")):
        fig.add_trace(go.Scatter(x=x, y=arr[idx].astype(np.float32), mode="markers", name=name,
                                 marker=dict(color=color, symbol=symbol, size=7),
                                 customdata=idx.astype(np.int32),
                                 hovertemplate="unit %{customdata}<br>" + name + " = %{y:.3f}<extra></extra>"),
                      row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=z[idx].astype(np.float32), name=names[3], marker=dict(
        color=z[idx].astype(np.float32), colorscale=GATE_SCALE, cmin=0, cmax=1), customdata=idx.astype(np.int32),
        hovertemplate="unit %{customdata}<br>Z = %{y:.3f}<extra></extra>"), row=2, col=1)
    fig.update_yaxes(range=[-1.05, 1.05], title_text=ax["value"], zeroline=True, row=1, col=1)
    fig.update_yaxes(range=[0, 1], title_text="Z_t", tickvals=[0, 0.5, 1], row=2, col=1)
    fig.update_xaxes(title_text=ax["hidden unit"], row=2, col=1)
    if units is not None:
        fig.update_xaxes(tickvals=x[:: max(1, len(x) // 16)], ticktext=[str(u) for u in idx[:: max(1, len(x) // 16)]],
                         row=2, col=1)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), bargap=0.1)
    return _base_layout(fig, height, font_size)


def topk_figure(probs: np.ndarray, tokens: Sequence[str], k: int = 5, font_size: int = 13, height: int = 240,
                title: str = "Next character", axes: dict | None = None) -> go.Figure:
    """The k most probable next characters as horizontal bars, most likely on top."""
    order = np.argsort(-probs)[:k]
    labels = [show_char(tokens[i]) for i in order]
    fig = _figure(go.Bar(x=probs[order].astype(np.float32), y=labels, orientation="h",
                           marker_color=COLORS["hidden"], text=[f"{p:.1%}" for p in probs[order]],
                           textposition="auto", hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 1], title_text={**AXES, **(axes or {})}["probability"])
    fig.update_layout(title=title)
    return _base_layout(fig, height, font_size)


def state_heatmap(values: np.ndarray, chars: Sequence[str], step: int, title: str, font_size: int = 13,
                  height: int = 300) -> go.Figure:
    """A state (H or H̃) as units × steps on the diverging scale fixed to [-1, 1]."""
    steps = values.shape[0]
    fig = _figure(go.Heatmap(z=values.T.astype(np.float32), zmin=-1, zmax=1, zmid=0, colorscale=STATE_SCALE,
                               hovertemplate="step %{x}<br>unit %{y}<br>%{z:.3f}<extra></extra>"))
    tick_every = max(1, -(-steps // 120))
    fig.update_xaxes(tickvals=list(range(0, steps, tick_every)),
                     ticktext=[show_char(chars[t]) for t in range(0, steps, tick_every)], tickangle=0)
    fig.update_yaxes(title_text="unit", autorange="reversed")
    fig.add_vline(x=step, line=dict(color="#000000", width=2))
    fig.update_layout(title=title)
    return _base_layout(fig, height, font_size)


def scale_colors(values: np.ndarray, scale: str = GATE_SCALE, vmin: float = 0.0, vmax: float = 1.0) -> list[str]:
    """CSS colours of `values` on a Plotly scale over [vmin, vmax] (for colouring text by a unit or a gradient)."""
    from plotly.colors import sample_colorscale

    span = vmax - vmin if vmax > vmin else 1.0
    return sample_colorscale(scale, np.clip((np.asarray(values, dtype=float) - vmin) / span, 0, 1).tolist())


def gradient_flow_figure(curves: Sequence[tuple[str, np.ndarray]], chars: Sequence[str], target: int,
                         font_size: int = 13, height: int = 320, title: str = "", y_title: str = "") -> go.Figure:
    """‖∂loss_t/∂H_t'‖ against t' for several models (log scale): how far back the error signal reaches."""
    fig = _figure()
    for i, (label, norms) in enumerate(curves):
        fig.add_trace(go.Scatter(x=np.arange(len(norms)), y=np.maximum(norms, 1e-30).astype(np.float32),
                                 mode="lines+markers", name=label, marker=dict(size=4),
                                 line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2.5),
                                 hovertemplate="t′ = %{x}<br>%{y:.2e}<extra>" + label + "</extra>"))
    fig.update_yaxes(type="log", title_text=y_title, exponentformat="power")
    fig.update_xaxes(tickvals=list(range(0, target + 1, max(1, (target + 1) // 40))),
                     ticktext=[show_char(chars[t]) for t in range(0, target + 1, max(1, (target + 1) // 40))],
                     tickangle=0)
    fig.update_layout(title=title, showlegend=True, legend=dict(orientation="h", y=-0.22, yanchor="top", x=0))
    return _base_layout(fig, height, font_size)


def survival_figure(survival: np.ndarray, chars: Sequence[str], target: int, font_size: int = 13,
                    height: int = 320, title: str = "", y_title: str = "") -> go.Figure:
    """How much of H_t' survives in H_t through the update gate: the mean over units and its spread."""
    mean = survival.mean(axis=1)
    lo, hi = np.quantile(survival, 0.1, axis=1), np.quantile(survival, 0.9, axis=1)
    x = np.arange(len(mean))
    fig = _figure([
        go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.maximum(np.concatenate([hi, lo[::-1]]), 1e-12),
                   fill="toself", fillcolor="rgba(0,114,178,0.15)", line=dict(width=0), hoverinfo="skip",
                   name="10-90 % of units"),
        go.Scatter(x=x, y=np.maximum(mean, 1e-12), mode="lines", name="mean over units",
                   line=dict(color=COLORS["hidden"], width=2.5), hovertemplate="t′ = %{x}<br>%{y:.2e}<extra></extra>"),
    ])
    fig.update_yaxes(type="log", title_text=y_title, exponentformat="power")
    step = max(1, (target + 1) // 40)
    fig.update_xaxes(tickvals=list(range(0, target + 1, step)),
                     ticktext=[show_char(chars[t]) for t in range(0, target + 1, step)], tickangle=0)
    fig.update_layout(title=title, showlegend=True, legend=dict(orientation="h", y=-0.22, yanchor="top", x=0))
    return _base_layout(fig, height, font_size)
