"""Pure Plotly figure builders: NumPy arrays in, a go.Figure out; no Streamlit, no model code.

Gates use one fixed [0, 1] colour-blind-safe sequential scale and states one diverging scale centred on 0,
so every picture of the app can be compared with every other.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from gru_viz.data import visible_char

# Axis words, overridable per call so the UI can pass them in another language.
AXES = {"unit": "unit", "gate": "gate", "value": "value", "hidden unit": "hidden unit", "probability": "probability",
        "epoch": "epoch", "perplexity": "perplexity"}
GATE_SCALE = "Cividis"
STATE_SCALE = "RdBu"
# Sent as colour lists, not names: plotly.js knows its own "RdBu" (reversed, other colours) and "Cividis", which
# would not match plotly.py's scales that scale_colors uses for the coloured text.
GATE_COLORS = get_colorscale(GATE_SCALE)
STATE_COLORS = get_colorscale(STATE_SCALE)
COLORS = {"prev": "#7f7f7f", "cand": "#E69F00", "hidden": "#0072B2", "forced": "#D55E00", "free": "#0072B2"}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
RUN_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


# Every builder writes its figure as plain dicts and wraps them with validation off. Plotly's graph-object API
# (make_subplots, update_xaxes, add_vline…) validates every property on every call: 40 ms for the heatmaps, most
# of what a scrub step cost the server. tests/test_figures.py validates each builder's output in full instead.
_GRID = "#E5ECF6"
TEMPLATE = {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
                       "xaxis": {"gridcolor": _GRID, "zerolinecolor": _GRID, "linecolor": _GRID},
                       "yaxis": {"gridcolor": _GRID, "zerolinecolor": _GRID, "linecolor": _GRID}}}
MARGIN = {"l": 60, "r": 20, "t": 40, "b": 40}
MARKER_COLOR = "#D55E00"


def make_figure(data: list[dict], layout: dict, height: int, font_size: int) -> go.Figure:
    """A figure from plain dicts with the app's look: white template, margins, type size, height."""
    base = {"template": TEMPLATE, "height": height, "margin": MARGIN, "font": {"size": font_size},
            "hoverlabel": {"font": {"size": font_size}}}
    layout = {**base, **layout}
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]:
        # explicit: Streamlit's chart theme otherwise draws tick labels at three quarters of the page's type
        axis = layout[key] = dict(layout.get(key, {}))
        axis.setdefault("tickfont", {"size": font_size - 1})
        if isinstance(axis.get("title"), dict):
            axis["title"] = {"font": {"size": font_size}, **axis["title"]}
    layout["legend"] = {"font": {"size": font_size}, **layout.get("legend", {})}
    if isinstance(layout.get("title"), dict):
        layout["title"] = {"font": {"size": font_size + 1}, **layout["title"]}
    return go.Figure(data=data, layout=layout, _validate=False)


def _rows(heights: tuple[float, float], spacing: float) -> dict:
    """Two rows sharing the x axis, laid out as make_subplots(rows=2, shared_xaxes=True) would."""
    usable = 1.0 - spacing
    return {"xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
            "yaxis": {"anchor": "x", "domain": [1.0 - heights[0] * usable, 1.0]},
            "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
            "yaxis2": {"anchor": "x2", "domain": [0.0, heights[1] * usable]}}


def _vline(x: float, xref: str, yref: str, color: str, width: int) -> dict:
    return {"type": "line", "x0": x, "x1": x, "xref": xref, "y0": 0, "y1": 1, "yref": f"{yref} domain",
            "line": {"color": color, "width": width}}


def char_ticks(chars: Sequence[str], stop: int, every: int = 1, start: int = 0) -> dict:
    """The probe's characters as tick labels of an x axis, every `every`-th step from `start` up to `stop`."""
    ticks = range(start, stop, every)
    return {"tickvals": list(ticks), "ticktext": [show_char(chars[t]) for t in ticks], "tickangle": 0}


_TAG = re.compile(r"<[^>]*>")


def columns(text: str) -> int:
    """Columns `text` takes on screen, its HTML tags left out: a wide (CJK) character counts two (for wrapping
    titles, legends and bar labels, which Plotly never wraps itself)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in _TAG.sub("", text))


def show_char(ch: str) -> str:
    """Characters as the axes show them: ␣ a space, ↵ a newline, ⇥ a tab (data.visible_char)."""
    return visible_char(ch)


def units_to_show(mode: str, Z: np.ndarray) -> np.ndarray | None:
    """The heatmaps' rows: "active" the 32 units whose update gate varies most over the probe, "first" units
    0-63, "all" every unit (None)."""
    if mode == "active":
        return np.sort(np.argsort(-Z.std(axis=0))[:32])
    if mode == "first":
        return np.arange(min(64, Z.shape[1]))
    return None


def perplexity_figure(runs: Sequence[tuple[str, Sequence[int], Sequence[float]]],
                      reference: tuple[str, Sequence[int], Sequence[float]] | None = None,
                      max_epoch: int | None = None, font_size: int = 13, height: int = 340,
                      title: str = "Perplexity per epoch", axes: dict | None = None) -> go.Figure:
    """One line per run (label, epochs, perplexities); log y, as the curve spans 28 down to 1.

    `reference` (d2l's run) is drawn first, dashed and grey, so a run that retraces it stays visible on top;
    with `max_epoch` the x axis (and the reference) ends where the runs end.
    """
    ax = {**AXES, **(axes or {})}

    def line(label: str, epochs: Sequence[int], values: Sequence[float], style: dict) -> dict:
        return {"type": "scatter", "mode": "lines", "name": label, "x": list(epochs),
                "y": [min(float(v), 1e6) for v in values],  # an infinite value would break the axis
                "line": style, "hovertemplate": f"{ax['epoch']} %{{x}}<br>{ax['perplexity']} %{{y:.3f}}"
                                                f"<extra>{label}</extra>"}

    data = []
    if reference is not None:
        label, epochs, values = reference
        keep = [i for i, e in enumerate(epochs) if max_epoch is None or e <= max_epoch]
        data.append(line(label, [epochs[i] for i in keep], [values[i] for i in keep],
                         {"color": "#9a9a9a", "width": 2, "dash": "dash"}))
    data += [line(label, epochs, values, {"color": RUN_COLORS[i % len(RUN_COLORS)], "width": 3})
             for i, (label, epochs, values) in enumerate(runs)]
    shown = [y for trace in data for y in trace["y"]]
    ticks = log_ticks(min(shown), max(shown)) if shown else [1, 2, 5, 10, 20]
    xaxis = {"title": {"text": ax["epoch"]}, "rangemode": "tozero"}
    if max_epoch is not None:
        xaxis["range"] = [0, max(max_epoch, 1)]
    layout = {"title": {"text": title}, "showlegend": True,
              "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
              "xaxis": xaxis,
              "yaxis": {"title": {"text": ax["perplexity"]}, "type": "log", "tickvals": ticks,
                        "ticktext": [f"{t:g}" for t in ticks], "minor": {"showgrid": False}}}
    return make_figure(data, layout, height, font_size)


# Tick sets for a log axis, sparse to dense: the sparsest that puts MIN_TICKS on the curve's range is used.
_LOG_MANTISSAS = ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9))
MIN_TICKS = 3


def log_ticks(lo: float, hi: float) -> list[float]:
    """At least MIN_TICKS readable tick values between `lo` and `hi` (> 0) for a log axis: a curve from 3.1 to 4.9
    fell between the fixed ticks 3 and 5 and had none (a run that has barely moved: plain steps then)."""
    lo, hi = max(lo, 1e-9), max(hi, lo * (1 + 1e-9))
    for mantissas in _LOG_MANTISSAS:
        ticks = [m * 10.0**k for k in range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)
                 for m in mantissas if lo <= m * 10.0**k <= hi]
        if len(ticks) >= MIN_TICKS:
            return [float(f"{t:.6g}") for t in ticks]
    # a range too narrow for any: even steps, the widest of 5, 2 or 1 × 10^k that still puts MIN_TICKS on the range
    # (counting the ticks, not the intervals: 13.1 to 24.5 in steps of 5 has only 15 and 20)
    step = 10.0 ** math.floor(math.log10((hi - lo) / MIN_TICKS))
    for factor in (5, 2, 1):
        if math.floor(hi / (step * factor)) - math.ceil(lo / (step * factor)) + 1 >= MIN_TICKS:
            step *= factor  # factor 1 always fits: the range is at least MIN_TICKS steps long
            break
    first = math.ceil(lo / step)
    return [float(f"{i * step:.6g}") for i in range(first, math.floor(hi / step) + 1)]


def gate_heatmaps(R: np.ndarray, Z: np.ndarray, chars: Sequence[str], step: int,
                  units: np.ndarray | None = None, font_size: int = 13, height: int = 560, window: int = 80,
                  titles: tuple[str, str] = ("Reset gate R<sub>t</sub>", "Update gate Z<sub>t</sub>"),
                  axes: dict | None = None, max_cells: int = 8_192) -> go.Figure:
    """R and Z as hidden units × time steps, the probe's characters along x, a marker at `step`.

    R and Z are (steps, hidden); `units` picks and orders the rows shown (default: all). The x axis opens on a
    window of `window` steps around `step` so every character is legible; pan or zoom out for the rest of the
    steps sent. At most about `max_cells` cells per gate are sent (every step of a probe of up to 256
    characters with the default 32 units; fewer steps, around `step`, beyond that), because the figure travels
    to the browser again at every step: a 500-character probe with all 256 units would be 2 MB per step.
    """
    ax = {**AXES, **(axes or {})}
    steps = R.shape[0]
    idx = np.arange(R.shape[1]) if units is None else np.asarray(units)
    span = max(window, max_cells // max(len(idx), 1))
    first = min(max(step - span // 2, 0), max(steps - span, 0))
    sent = range(first, min(steps, first + span))  # the steps whose cells are sent
    # With all units the row number is the unit; a subset names its rows by unit number (a category axis), so
    # the axis and the hover show real unit numbers without a per-cell customdata array (half the payload,
    # which travels again at every step because the marker moves).
    rows = None if units is None else [str(u) for u in idx]
    data = []
    for row, (gate, name) in enumerate(((R, "R"), (Z, "Z")), start=1):
        trace = {"type": "heatmap", "name": name, "z": gate[sent.start:sent.stop, idx].T.astype(np.float32),
                 "x": list(sent), "zmin": 0.0, "zmax": 1.0,
                 "colorscale": GATE_COLORS, "showscale": row == 1,
                 "hovertemplate": f"step %{{x}}<br>unit %{{y}}<br>{name} = %{{z:.3f}}<extra></extra>",
                 "xaxis": "x" if row == 1 else "x2", "yaxis": "y" if row == 1 else "y2"}
        if row == 1:
            trace["colorbar"] = {"title": {"text": ax["gate"]}, "len": 0.9, "tickvals": [0, 0.5, 1]}
        if rows is not None:
            trace["y"] = rows
        data.append(trace)
    lo = min(max(step - window // 2, 0), max(steps - window, 0))
    x_range = [lo - 0.5, min(steps, lo + window) - 0.5]
    layout = _rows((0.5, 0.5), 0.08)
    layout["xaxis"].update(range=x_range, showgrid=False)
    layout["xaxis2"].update(range=x_range, showgrid=False, tickfont={"size": font_size - 1},
                            **char_ticks(chars, sent.stop, start=sent.start))
    for y in ("yaxis", "yaxis2"):
        layout[y].update(title={"text": ax["unit"]}, autorange="reversed", showgrid=False)
        if rows is not None:
            layout[y]["type"] = "category"
    layout["annotations"] = [{"text": text, "x": 0.5, "xanchor": "center", "xref": "paper", "y": y,
                              "yanchor": "bottom", "yref": "paper", "showarrow": False, "font": {"size": font_size}}
                             for text, y in zip(titles, (layout["yaxis"]["domain"][1], layout["yaxis2"]["domain"][1]))]
    layout["shapes"] = [_vline(step, "x", "y", MARKER_COLOR, 3), _vline(step, "x2", "y2", MARKER_COLOR, 3)]
    layout["meta"] = {"step": int(step), "labels_shown": len(sent), "steps_sent": [sent.start, sent.stop]}
    return make_figure(data, layout, height, font_size)


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
    seg_x = np.repeat(x, 3).astype(np.float32)
    seg_y = np.stack([h_tilde[idx], h_prev[idx], np.full(len(idx), np.nan)], axis=1).ravel().astype(np.float32)
    data = [{"type": "scatter", "x": seg_x, "y": seg_y, "mode": "lines", "line": {"color": "#c8c8c8", "width": 1.5},
             "hoverinfo": "skip", "showlegend": False, "xaxis": "x", "yaxis": "y"}]
    for arr, name, color, symbol in ((h_prev, names[0], COLORS["prev"], "circle-open"),
                                     (h_tilde, names[1], COLORS["cand"], "diamond"),
                                     (h, names[2], COLORS["hidden"], "circle")):
        data.append({"type": "scatter", "x": x, "y": arr[idx].astype(np.float32), "mode": "markers", "name": name,
                     "marker": {"color": color, "symbol": symbol, "size": 7}, "customdata": idx.astype(np.int32),
                     "hovertemplate": "unit %{customdata}<br>" + name + " = %{y:.3f}<extra></extra>",
                     "xaxis": "x", "yaxis": "y"})
    zs = z[idx].astype(np.float32)
    data.append({"type": "bar", "x": x, "y": zs, "name": names[3], "customdata": idx.astype(np.int32),
                 "marker": {"color": zs, "colorscale": GATE_COLORS, "cmin": 0, "cmax": 1},
                 "hovertemplate": "unit %{customdata}<br>Z = %{y:.3f}<extra></extra>", "xaxis": "x2", "yaxis": "y2"})
    layout = _rows((0.7, 0.3), 0.06)
    layout["yaxis"].update(range=[-1.05, 1.05], title={"text": ax["value"]}, zeroline=True)
    layout["yaxis2"].update(range=[0, 1], title={"text": "Z_t"}, tickvals=[0, 0.5, 1])
    layout["xaxis2"]["title"] = {"text": ax["hidden unit"]}
    if units is not None:
        every = max(1, len(x) // 16)
        layout["xaxis2"].update(tickvals=x[::every].tolist(), ticktext=[str(u) for u in idx[::every]])
    layout.update(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}, bargap=0.1)
    return make_figure(data, layout, height, font_size)


def topk_figure(probs: np.ndarray, tokens: Sequence[str], k: int = 5, font_size: int = 13, height: int = 240,
                title: str = "Next character", axes: dict | None = None) -> go.Figure:
    """The k most probable next characters as horizontal bars, most likely on top."""
    order = np.argsort(-probs)[:k]
    data = [{"type": "bar", "x": probs[order].astype(np.float32), "y": [show_char(tokens[i]) for i in order],
             "orientation": "h", "marker": {"color": COLORS["hidden"]}, "text": [f"{p:.1%}" for p in probs[order]],
             "textposition": "auto", "hovertemplate": "%{y}: %{x:.3f}<extra></extra>"}]
    layout = {"title": {"text": title}, "yaxis": {"autorange": "reversed", "type": "category"},
              "xaxis": {"range": [0, 1], "title": {"text": {**AXES, **(axes or {})}["probability"]}}}
    return make_figure(data, layout, height, font_size)


def state_heatmap(values: np.ndarray, chars: Sequence[str], step: int, title: str, font_size: int = 13,
                  height: int = 300) -> go.Figure:
    """A state (H or H̃) as units × steps on the diverging scale fixed to [-1, 1]."""
    steps = values.shape[0]
    data = [{"type": "heatmap", "z": values.T.astype(np.float32), "zmin": -1, "zmax": 1, "zmid": 0,
             "colorscale": STATE_COLORS, "hovertemplate": "step %{x}<br>unit %{y}<br>%{z:.3f}<extra></extra>"}]
    layout = {"title": {"text": title}, "xaxis": char_ticks(chars, steps, max(1, -(-steps // 120))),
              "yaxis": {"title": {"text": "unit"}, "autorange": "reversed"},
              "shapes": [_vline(step, "x", "y", "#000000", 2)]}
    return make_figure(data, layout, height, font_size)


def scale_colors(values: np.ndarray, scale: str = GATE_SCALE, vmin: float = 0.0, vmax: float = 1.0) -> list[str]:
    """CSS colours of `values` on a Plotly scale over [vmin, vmax] (for colouring text by a unit or a gradient)."""
    from plotly.colors import sample_colorscale

    span = vmax - vmin if vmax > vmin else 1.0
    return sample_colorscale(scale, np.clip((np.asarray(values, dtype=float) - vmin) / span, 0, 1).tolist())


def tally_figure(labels: Sequence[str], counts: Sequence[int], answer: int | None = None, font_size: int = 13,
                 height: int = 220, title: str = "") -> go.Figure:
    """A class's votes as horizontal bars, the first choice on top, each with its count; the bar of `answer`
    (once revealed) in the highlight colour, the others grey, so the class sees at once how many were right."""
    colors = [COLORS["forced"] if i == answer else (COLORS["hidden"] if answer is None else COLORS["prev"])
              for i in range(len(labels))]
    top = max([*counts, 1])
    data = [{"type": "bar", "x": list(counts), "y": list(labels), "orientation": "h", "marker": {"color": colors},
             "text": [str(n) for n in counts], "textposition": "outside", "cliponaxis": False,
             "textfont": {"color": "#000"}, "hovertemplate": "%{y}: %{x}<extra></extra>"}]
    # the counts are written on the bars: no x axis; labels in black, to be read from the back of a room
    layout = {"title": {"text": title}, "bargap": 0.25,
              "yaxis": {"autorange": "reversed", "type": "category", "automargin": True,
                        "tickfont": {"color": "#000"}},
              "xaxis": {"range": [0, top * 1.15 + 0.5], "visible": False},
              "margin": {"l": 10, "r": 20, "t": 40, "b": 10}}
    return make_figure(data, layout, height, font_size)
