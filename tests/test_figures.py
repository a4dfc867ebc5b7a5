"""Figure builders are pure functions: check their data and layout, no browser."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from gru_viz.views import analysis_figures, figures

T, H = 12, 6
rng = np.random.default_rng(0)
R, Z = rng.random((T, H)), rng.random((T, H))
CHARS = "the time tra"


def validated(fig: go.Figure) -> go.Figure:
    """The builders skip plotly's validation for speed; this is the full check they skip (it raises on any
    unknown property or bad value)."""
    return go.Figure(fig.to_plotly_json())


def every_figure() -> dict[str, go.Figure]:
    h = rng.uniform(-1, 1, H)
    runs = [("GRU", [1], [20.0])]
    return {
        "heatmaps": figures.gate_heatmaps(R, Z, CHARS, 4),
        "heatmaps, units": figures.gate_heatmaps(R, Z, CHARS, 4, units=np.array([3, 0])),
        "mix": figures.state_mix_figure(h, h, h, Z[0]),
        "mix, units": figures.state_mix_figure(h, h, h, Z[0], units=np.array([2, 5])),
        "topk": figures.topk_figure(Z[0], list("abcdef"), 3),
        "perplexity": figures.perplexity_figure(runs, reference=("d2l", [1, 2], [25.0, 12.0]), max_epoch=1),
        "state": figures.state_heatmap(R, CHARS, 2, "H"),
        "gradient": analysis_figures.gradient_flow_figure([("GRU", np.ones(4))], "abcd", 3),
        "survival": analysis_figures.survival_figure(np.ones((3, 2)), "abc", 2),
    }


def test_every_figure_is_valid_plotly():
    for name, fig in every_figure().items():
        full = validated(fig)  # raises ValueError on an invalid property
        assert len(full.data) == len(fig.data), name
        assert full.layout.template.layout.paper_bgcolor == "white", name
        assert full.layout.height == fig.layout.height, name


def test_gate_heatmaps_data_scale_and_marker():
    fig = figures.gate_heatmaps(R, Z, CHARS, step=4)
    assert isinstance(fig, go.Figure)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2
    np.testing.assert_allclose(np.asarray(heat[0].z), R.T, rtol=1e-6)  # units × time
    np.testing.assert_allclose(np.asarray(heat[1].z), Z.T, rtol=1e-6)
    cividis = [list(c) for c in go.Heatmap(colorscale="Cividis").colorscale]  # plotly.py's table
    for h in heat:
        assert (h.zmin, h.zmax) == (0.0, 1.0)  # the same fixed scale everywhere
        # sent as colours, not as a name: plotly.js has its own (different) scales under the same names
        assert [c[1] for c in h.colorscale] == [c[1] for c in cividis]
        np.testing.assert_allclose([c[0] for c in h.colorscale], [c[0] for c in cividis])
    markers = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(markers) == 2 and all(s.x0 == s.x1 == 4 for s in markers)
    assert list(fig.layout.xaxis2.ticktext)[:4] == ["t", "h", "e", "␣"]
    assert fig.layout.meta["step"] == 4


def test_gate_heatmaps_unit_subset_and_window():
    units = np.array([5, 1])
    fig = figures.gate_heatmaps(R, Z, CHARS, step=11, units=units, window=6)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), R[:, [5, 1]].T, rtol=1e-6)
    assert list(fig.data[0].y) == ["5", "1"] and fig.layout.yaxis.type == "category"  # rows named by unit
    assert "unit %{y}" in fig.data[0].hovertemplate and fig.data[0].customdata is None
    assert tuple(fig.layout.xaxis2.range) == (5.5, 11.5)  # a window ending at the last step


def test_state_mix_puts_h_between_prev_and_candidate():
    h_prev, h_tilde, z = rng.uniform(-1, 1, H), rng.uniform(-1, 1, H), rng.random(H)
    h = z * h_prev + (1 - z) * h_tilde
    fig = figures.state_mix_figure(h_prev, h_tilde, h, z)
    by_name = {t.name: t for t in fig.data if t.name}
    np.testing.assert_allclose(by_name["state H<sub>t</sub>"].y, h, rtol=1e-6)
    np.testing.assert_allclose(by_name["candidate H̃<sub>t</sub>"].y, h_tilde, rtol=1e-6)
    bars = [t for t in fig.data if t.type == "bar"]
    np.testing.assert_allclose(bars[0].y, z, rtol=1e-6)
    assert tuple(fig.layout.yaxis.range) == (-1.05, 1.05) and tuple(fig.layout.yaxis2.range) == (0, 1)
    seg = fig.data[0]
    assert len(seg.x) == 3 * H and np.isnan(seg.y[2])  # one segment per unit


def test_topk_orders_by_probability():
    probs = np.array([0.05, 0.5, 0.1, 0.3, 0.05])
    fig = figures.topk_figure(probs, ["<unk>", " ", "e", "t", "a"], k=3)
    assert list(fig.data[0].y) == ["␣", "t", "e"]
    np.testing.assert_allclose(fig.data[0].x, [0.5, 0.3, 0.1], rtol=1e-6)
    assert fig.layout.yaxis.autorange == "reversed"


def test_perplexity_figure_overlays_runs_and_caps_infinity():
    runs = [("GRU", [1, 2], [20.0, 10.0]), ("RNN", [1], [float("inf")])]
    fig = figures.perplexity_figure(runs)
    assert [t.name for t in fig.data] == ["GRU", "RNN"]
    assert list(fig.data[0].y) == [20.0, 10.0] and fig.data[1].y[0] == 1e6
    assert fig.layout.yaxis.type == "log"
    assert fig.data[0].line.color != fig.data[1].line.color


def test_perplexity_reference_is_drawn_behind_and_cut_to_the_runs_epochs():
    """A 20-epoch run must stay visible: the reference goes first (under it), dashed, and only up to epoch 20,
    and the x axis ends at 20 instead of d2l's 500."""
    reference = ("d2l", list(range(1, 501)), [20.0 / e for e in range(1, 501)])
    fig = figures.perplexity_figure([("mine", list(range(1, 21)), [20.0 / e for e in range(1, 21)])],
                                    reference=reference, max_epoch=20)
    assert [t.name for t in fig.data] == ["d2l", "mine"]  # drawn in order: the run is on top
    assert fig.data[0].line.dash == "dash" and fig.data[1].line.dash is None
    assert max(fig.data[0].x) == 20 and list(fig.layout.xaxis.range) == [0, 20]


def test_state_heatmap_diverging_and_centred():
    fig = figures.state_heatmap(rng.uniform(-1, 1, (T, H)), CHARS, 3, "H")
    h = fig.data[0]
    assert (h.zmin, h.zmax, h.zmid) == (-1, 1, 0)
    # the same colours as the coloured text of the gates tab (scale_colors), at both ends
    low, high = figures.scale_colors([-1, 1], figures.STATE_SCALE, -1, 1)
    assert [h.colorscale[0][1], h.colorscale[-1][1]] == [low.replace(" ", ""), high.replace(" ", "")]


def test_payload_of_a_500_character_probe_is_small():
    big_r, big_z = rng.random((500, 256)), rng.random((500, 256))
    fig = figures.gate_heatmaps(big_r, big_z, "ab" * 250, 300)  # all 256 units: only the steps around 300 travel
    assert len(fig.to_json()) < 300_000  # float32 arrays travel as base64, not as JSON lists
    first, stop = fig.layout.meta["steps_sent"]
    assert first <= 300 - 40 and 300 + 40 <= stop and stop - first == 80
    assert list(fig.data[0].x) == list(range(first, stop))
    np.testing.assert_allclose(np.asarray(fig.data[1].z), big_z[first:stop].T, rtol=1e-6)
    lo, hi = fig.layout.xaxis2.range
    assert first - 0.5 <= lo and hi <= stop - 0.5  # the visible window lies inside what was sent
    assert list(fig.layout.xaxis2.ticktext[:2]) == (["a", "b"] if first % 2 == 0 else ["b", "a"])
    active = figures.gate_heatmaps(big_r, big_z, "ab" * 250, 300, units=np.arange(32))
    assert active.layout.meta["steps_sent"] == [172, 428]  # 32 units: 256 steps around the step
    default = figures.gate_heatmaps(big_r[:212], big_z[:212], "ab" * 106, 5, units=np.arange(32))
    assert default.layout.meta["steps_sent"] == [0, 212]  # the default probe travels whole


def test_gradient_flow_and_survival_figures():
    norms = np.array([1e-6, 1e-3, 0.1, 1.0])
    fig = analysis_figures.gradient_flow_figure([("GRU", norms), ("RNN", norms / 10)], "abcd", 3)
    assert [t.name for t in fig.data] == ["GRU", "RNN"] and fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.data[1].y, norms / 10, rtol=1e-6)
    S = np.array([[0.1, 0.3], [0.5, 0.5], [1.0, 1.0]])
    sfig = analysis_figures.survival_figure(S, "abc", 2)
    np.testing.assert_allclose(sfig.data[1].y, [0.2, 0.5, 1.0], rtol=1e-6)
    assert figures.scale_colors([0.0, 1.0])[0] != figures.scale_colors([0.0, 1.0])[1]
    assert len(figures.scale_colors([-1, 0, 1], figures.STATE_SCALE, -1, 1)) == 3


@pytest.mark.parametrize("lo, hi", [(1.01, 28.0), (3.1, 4.9), (11.0, 19.0), (4.95, 5.05), (1.3, 1.35), (20.0, 25.5),
                                    (1.0, 1e6), (100.0, 101.0), (13.14, 24.5), (1.01, 1.11), (1.22, 1.34)])
def test_the_training_curves_log_axis_has_at_least_three_ticks_on_the_curves_range(lo, hi):
    """Issue 30: a curve between two of the fixed ticks (3.1 to 4.9 between 3 and 5) showed one tick or none."""
    epochs = list(range(1, 11))
    fig = figures.perplexity_figure([("run", epochs, list(np.geomspace(hi, lo, 10)))])
    ticks = list(fig.layout.yaxis.tickvals)
    on_curve = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
    assert 3 <= len(on_curve) <= 12, ticks
    assert list(fig.layout.yaxis.ticktext) == [f"{t:g}" for t in ticks]
    assert len(set(fig.layout.yaxis.ticktext)) == len(ticks)  # no two ticks read the same


def test_the_log_axis_has_three_ticks_on_every_range_a_training_curve_can_span():
    """Issue 30: an offline quick run from 24.5 down to 13.14 showed two ticks, 15 and 20 (the even-step fallback
    counted intervals, not ticks); every range from a 0.05 % to a 100× span, 1 to 5,000, now has three or more."""
    for lo in np.geomspace(1.0001, 5000, 400):
        for ratio in (1.0005, 1.003, 1.02, 1.1, 1.3, 1.5, 2, 2.5, 4, 10, 100):
            hi = lo * ratio
            ticks = [t for t in figures.log_ticks(lo, hi) if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
            assert 3 <= len(ticks) <= 12, (lo, hi, ticks)
            assert len({f"{t:g}" for t in ticks}) == len(ticks), (lo, hi, ticks)  # as the axis writes them


def _lines(text: str) -> list[str]:
    return str(text).split("<br>")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_gates_tab_charts_fit_a_tablet_half_column(lang):
    """Issue 30 on a tablet (1024×768, sidebar open, each ④ chart about 280 px wide): the survival chart's title and
    the trained RNN's legend entry were cut, and 61 character labels overlapped on the x axis."""
    from gru_viz.ui.strings import translate
    from gru_viz.ui.view import math_html

    def t(key: str, **fmt: object) -> str:
        return translate(key, lang, **fmt)

    text = "the time traveller for so it will be convenient to speak of him was expounding"
    target = 60
    names = [t("g_free"), t("g_rnn"), t("g_rnn_trained", epoch=500), t("g_current", what=t("forcing_free"))]
    norms = np.geomspace(1e-3, 1.0, target + 1)
    grad = analysis_figures.gradient_flow_figure([(n, norms) for n in names], text, target,
                                                 title=math_html(t("g_grad_chart", t=target)))
    surv = analysis_figures.survival_figure(np.ones((target + 1, 4)), text, target,
                                            title=t("g_surv_chart", t=target),
                                            names=(t("g_surv_band"), t("g_surv_median"), t("g_surv_mean")))
    for fig in (grad, surv):
        validated(fig)
        x = fig.layout.xaxis
        assert 5 <= len(x.tickvals) <= analysis_figures.MAX_CHAR_TICKS, list(x.tickvals)
        assert target in x.tickvals  # the target's own character is labelled
        assert list(x.ticktext) == [figures.show_char(text[i]) for i in x.tickvals]
        assert len(set(np.diff(x.tickvals))) == 1  # evenly spaced
        title = fig.layout.title  # above the plot area, growing the top margin by its lines: never over the plot
        assert title.automargin and (title.yref, title.y, title.yanchor) == ("paper", 1, "bottom")
        assert all(analysis_figures.columns(line) <= analysis_figures.TITLE_WIDTH
                   for line in _lines(fig.layout.title.text)), fig.layout.title.text
        for trace in fig.data:
            assert all(analysis_figures.columns(line) <= analysis_figures.LEGEND_WIDTH
                       for line in _lines(trace.name)), trace.name
    # the hover still names the curve on one line
    assert all(f"<extra>{n}</extra>" in tr.hovertemplate for n, tr in zip(names, grad.data))


def test_wrap_breaks_only_between_words_and_before_brackets():
    wrap = analysis_figures.wrap
    title = "How much of H<sub>t′</sub> survives in H<sub>60</sub> through Z (log scale)"
    lines = _lines(wrap(title, 34))
    assert lines == ["How much of H<sub>t′</sub> survives in H<sub>60</sub>", "through Z (log scale)"]
    assert _lines(wrap("GRU weights, gates removed (Z=0, R=1)", 30)) == ["GRU weights, gates removed", "(Z=0, R=1)"]
    zh = "按 d2l 方法训练的普通 RNN（第 500 周期）"
    assert _lines(wrap(zh, 30)) == ["按 d2l 方法训练的普通 RNN", "（第 500 周期）"]
    assert analysis_figures.columns("普通 RNN") == 8 and analysis_figures.columns("H<sub>t</sub>") == 2
    assert wrap("short", 30) == "short" and wrap("", 30) == ""
    assert wrap("supercalifragilistic word", 5) == "supercalifragilistic<br>word"  # a long word keeps its line
