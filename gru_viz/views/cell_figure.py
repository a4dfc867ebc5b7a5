"""d2l's picture of the GRU cell as a Plotly layout (shapes and annotations, no traces) with named slots: the
scrubber (gru_viz/ui/scrubber/cell.js) writes one unit's values into them at every step with one relayout."""

from __future__ import annotations

from collections.abc import Sequence

# Positions in data units (x 0-12, y 0-7). The memory line runs along the top: H_{t−1} → ×Z → + → H_t.
TOP, GATE_Y0, GATE_Y1, X_BUS, H_BUS = 6.2, 2.5, 3.7, 1.2, 1.9
COL = {"R": 2.4, "Ht": 5.6, "Z": 8.2, "out": 10.7}
ONE_MINUS = 9.75
BOX_W, NODE_R, GAUGE_W = 1.9, 0.27, 0.28
X_END = 12.7  # where the memory line's arrow ends; H_t and "to the output layer" sit left-aligned right of the
# + node, clear of it and of the wire that rises into it (labels right-aligned at the arrow ran over both)
OUT_LABEL_X = COL["out"] + NODE_R + 0.12
WIRE = {"h": "#0072B2", "x": "#7f7f7f", "gate": "#444444", "cand": "#E69F00"}
FORCED_COLOR = "#D55E00"

# Values written per step (annotation slots) and shapes that follow the gates (shape slots).
SLOTS = ("title", "x", "hp", "r", "z", "ht", "omz", "h", "r_box", "z_box", "ht_box")
SHAPES = ("r_level", "z_level", "r_frame", "z_frame", "ht_frame")


def _line(points: Sequence[tuple[float, float]], color: str, width: float = 2.5) -> dict:
    path = "M " + " L ".join(f"{x:.2f},{y:.2f}" for x, y in points)
    return {"type": "path", "path": path, "line": {"color": color, "width": width}, "layer": "below"}


def _arrow(x: float, y: float, ax: float, ay: float, color: str) -> dict:
    """An arrowhead at (x, y) pointing away from (ax, ay), as an annotation with no text."""
    return {"x": x, "y": y, "ax": ax, "ay": ay, "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": "",
            "showarrow": True, "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 2.2, "arrowcolor": color}


def _node(x: float, y: float, symbol: str, font: int) -> tuple[dict, dict]:
    circle = {"type": "circle", "x0": x - NODE_R, "x1": x + NODE_R, "y0": y - NODE_R, "y1": y + NODE_R,
              "line": {"color": "#333", "width": 2}, "fillcolor": "white"}
    return circle, _text(x, y, symbol, font + 4, color="#333")


def _text(x: float, y: float, text: str, size: int, color: str = "#222", anchor: str = "center",
          yanchor: str = "middle", bg: str | None = None) -> dict:
    out = {"x": x, "y": y, "xref": "x", "yref": "y", "text": text, "showarrow": False, "font": {"size": size,
           "color": color}, "xanchor": anchor, "yanchor": yanchor}
    if bg:
        out["bgcolor"] = bg
    return out


def _box(cx: float, color: str) -> dict:
    return {"type": "rect", "x0": cx - BOX_W / 2, "x1": cx + BOX_W / 2, "y0": GATE_Y0, "y1": GATE_Y1,
            "line": {"color": color, "width": 2}, "fillcolor": "#f7f7f7"}


def two_lines(label: str) -> str:
    """A label of several words broken at the space nearest its middle (Plotly's <br>), so it fits the narrow
    room right of the + node; one word stays one line."""
    spaces = [i for i, ch in enumerate(label) if ch == " "]
    if len(label) < 12 or not spaces:
        return label
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return label[:cut] + "<br>" + label[cut + 1 :]


def cell_layout(labels: dict[str, str], font: int, height: int) -> dict:
    """{"layout": a Plotly layout, "slots": {slot: annotation index}, "shapes": {slot: shape index},
    "gauge": [y0, y1]}; `labels` gives the gates' names (keys cell_reset, cell_update, cell_cand, cell_input,
    cell_state_prev, cell_state)."""
    shapes: list[dict] = []
    notes: list[dict] = []
    slot_at: dict[str, int] = {}
    shape_at: dict[str, int] = {}
    r, ht, z, out = COL["R"], COL["Ht"], COL["Z"], COL["out"]
    # wires: H_{t−1} along the top and down to the gates; X_t along the bottom; gate outputs upward
    shapes += [
        _line([(0.3, TOP), (z - NODE_R, TOP)], WIRE["h"]),
        _line([(z + NODE_R, TOP), (out - NODE_R, TOP)], WIRE["h"]),
        _line([(out + NODE_R, TOP), (X_END - 0.15, TOP)], WIRE["h"], 3.5),
        _line([(0.9, TOP), (0.9, H_BUS), (z - 0.3, H_BUS)], WIRE["h"], 1.8),
        _line([(r - 0.3, H_BUS), (r - 0.3, GATE_Y0)], WIRE["h"], 1.8),
        _line([(z - 0.3, H_BUS), (z - 0.3, GATE_Y0)], WIRE["h"], 1.8),
        _line([(ht, TOP), (ht, 4.8 + NODE_R)], WIRE["h"], 1.8),
        _line([(1.6, 0.35), (1.6, X_BUS), (z + 0.3, X_BUS)], WIRE["x"], 1.8),
        *[_line([(c + 0.3, X_BUS), (c + 0.3, GATE_Y0)], WIRE["x"], 1.8) for c in (r, z)],
        _line([(ht, X_BUS), (ht, GATE_Y0)], WIRE["x"], 1.8),
        _line([(r, GATE_Y1), (r, 4.8), (ht - NODE_R, 4.8)], WIRE["gate"]),  # R_t → R ⊙ H_{t−1}
        _line([(ht, 4.8 - NODE_R), (ht, GATE_Y1)], WIRE["h"]),  # → the candidate
        _line([(ht + BOX_W / 2, 3.1), (6.95, 3.1), (6.95, 5.2), (out - NODE_R, 5.2)], WIRE["cand"]),  # H̃_t
        _line([(z, GATE_Y1), (z, TOP - NODE_R)], WIRE["gate"]),  # Z_t → Z ⊙ H_{t−1}
        _line([(z + BOX_W / 2, 3.1), (ONE_MINUS - NODE_R, 3.1)], WIRE["gate"]),  # Z_t → 1 − Z_t
        _line([(ONE_MINUS + NODE_R, 3.1), (out, 3.1), (out, 5.2 - NODE_R)], WIRE["gate"]),
        _line([(out, 5.2 + NODE_R), (out, TOP - NODE_R)], WIRE["cand"]),
    ]
    notes += [_arrow(X_END, TOP, X_END - 0.45, TOP, WIRE["h"]), _arrow(r - 0.3, GATE_Y0, r - 0.3, H_BUS, WIRE["h"]),
              _arrow(z - 0.3, GATE_Y0, z - 0.3, H_BUS, WIRE["h"]), _arrow(ht, GATE_Y0, ht, X_BUS, WIRE["x"]),
              *[_arrow(c + 0.3, GATE_Y0, c + 0.3, X_BUS, WIRE["x"]) for c in (r, z)],
              _arrow(ht, GATE_Y1, ht, 4.8 - NODE_R, WIRE["h"])]
    # the three boxes, each gate with a gauge on its left (filled to the gate's value)
    for key, cx, color in (("r", r, WIRE["gate"]), ("z", z, WIRE["gate"]), ("ht", ht, WIRE["cand"])):
        shape_at[f"{key}_frame"] = len(shapes)
        shapes.append(_box(cx, color))
        if key != "ht":
            gx = cx - BOX_W / 2 + 0.08
            shapes.append({"type": "rect", "x0": gx, "x1": gx + GAUGE_W, "y0": GATE_Y0 + 0.08, "y1": GATE_Y1 - 0.08,
                           "line": {"color": "#999", "width": 1}, "fillcolor": "white"})
            shape_at[f"{key}_level"] = len(shapes)
            shapes.append({"type": "rect", "x0": gx, "x1": gx + GAUGE_W, "y0": GATE_Y0 + 0.08, "y1": GATE_Y0 + 0.08,
                           "line": {"width": 0}, "fillcolor": "#888"})
    for x, y, sym in ((ht, 4.8, "×"), (z, TOP, "×"), (out, TOP, "+"), (out, 5.2, "×"), (ONE_MINUS, 3.1, "1−")):
        circle, mark = _node(x, y, sym, font if sym != "1−" else font - 4)
        shapes.append(circle)
        notes.append(mark)

    def slot(name: str, note: dict) -> None:
        slot_at[name] = len(notes)
        notes.append(note)

    small = font - 2 if font >= 18 else max(font - 3, 10)  # projector: nothing under 18 px
    box_x = {"r": r, "z": z, "ht": ht}
    for key, name in (("r", "cell_reset"), ("z", "cell_update"), ("ht", "cell_cand")):
        slot(f"{key}_box", _text(box_x[key] + (0.17 if key != "ht" else 0), 3.1, labels[name], small))
    slot("title", _text(0.0, 7.75, "", font + 1, anchor="left", yanchor="top"))
    slot("hp", _text(0.3, TOP + 0.12, "", font, color=WIRE["h"], anchor="left", yanchor="bottom"))
    slot("h", _text(OUT_LABEL_X, TOP + 0.12, "", font + 1, color=WIRE["h"], anchor="left", yanchor="bottom"))
    slot("x", _text(1.75, 0.35, "", font, color="#333", anchor="left", yanchor="middle"))
    slot("r", _text(r + 0.1, 4.2, "", font, anchor="left", bg="rgba(255,255,255,0.85)"))
    # the values sit beside their wires, never on them: a gap of 0.18 from the vertical wire each one starts at
    slot("z", _text(z + 0.18, 4.6, "", font, anchor="left", bg="rgba(255,255,255,0.85)"))
    slot("ht", _text(6.95 + 0.18, 4.2, "", font, color="#9a6a00", anchor="left", bg="rgba(255,255,255,0.85)"))
    # 1 − Z_t under its node, starting right of the update gate's box (centred, it ran into the box)
    slot("omz", _text(ONE_MINUS - NODE_R, 3.1 - NODE_R - 0.12, "", font, anchor="left", yanchor="top",
                      bg="rgba(255,255,255,0.85)"))
    notes.append({**_text(OUT_LABEL_X, TOP - 0.15, two_lines(labels["cell_output"]), small, color="#666",
                          anchor="left", yanchor="top"), "align": "left"})
    layout = {
        "height": height, "margin": {"l": 8, "r": 8, "t": 8, "b": 8}, "paper_bgcolor": "white",
        "plot_bgcolor": "white", "showlegend": False, "dragmode": False, "hovermode": False,
        "font": {"size": font, "color": "#2a3f5f"},
        "xaxis": {"range": [-0.1, X_END + 1.0], "visible": False, "fixedrange": True},
        "yaxis": {"range": [0.0, 7.8], "visible": False, "fixedrange": True},
        "shapes": shapes, "annotations": notes,
    }
    return {"layout": layout, "slots": slot_at, "shapes": shape_at, "gauge": [GATE_Y0 + 0.08, GATE_Y1 - 0.08]}


def wire_values(arrays: dict, t: int, row: int) -> dict[str, float]:
    """The numbers the diagram shows for row `row` at step `t`, from (steps, units) arrays named as in a trace
    (R, Z, H_tilde, H, H_prev): what cell.js computes from the payload."""
    z = float(arrays["Z"][t, row])
    return {"hp": float(arrays["H_prev"][t, row]), "r": float(arrays["R"][t, row]), "z": z,
            "ht": float(arrays["H_tilde"][t, row]), "omz": 1.0 - z, "h": float(arrays["H"][t, row])}
