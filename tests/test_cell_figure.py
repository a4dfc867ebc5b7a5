"""The cell drawing's labels sit clear of the wires and nodes they describe (the collisions a teacher saw)."""

from __future__ import annotations

from gru_viz.views.cell_figure import BOX_W, COL, NODE_R, ONE_MINUS, cell_layout, two_lines

LABELS = {"cell_reset": "reset gate", "cell_update": "update gate", "cell_cand": "candidate",
          "cell_output": "to the output layer"}


def test_value_labels_start_right_of_the_wire_or_box_they_follow():
    for font in (16, 20):
        cell = cell_layout(LABELS, font, 320)
        notes, slots = cell["layout"]["annotations"], cell["slots"]
        h, omz, ht, z = (notes[slots[k]] for k in ("h", "omz", "ht", "z"))
        assert h["xanchor"] == "left" and h["x"] > COL["out"] + NODE_R  # H_t no longer over the + node
        assert omz["xanchor"] == "left" and omz["x"] >= COL["Z"] + BOX_W / 2  # 1 − Z_t clear of the Z box
        assert omz["y"] < 3.1 - NODE_R and omz["yanchor"] == "top"  # under the 1− node, not on its wire
        assert ht["x"] > 6.95 and z["x"] > COL["Z"]  # beside their vertical wires
        assert ONE_MINUS - NODE_R >= COL["Z"] + BOX_W / 2
        (out,) = [n for n in notes if "output" in str(n.get("text"))]
        assert out["x"] > COL["out"] + NODE_R and out["xanchor"] == "left"
        assert cell["layout"]["xaxis"]["range"][1] > h["x"] + 1.5  # room for the label right of the node


def test_two_lines_breaks_long_labels_at_the_middle_space_only():
    assert two_lines("to the output layer") == "to the<br>output layer"
    assert two_lines("到输出层") == "到输出层"
    assert two_lines("outputlayerlong") == "outputlayerlong"
