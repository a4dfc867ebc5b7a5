"""Tab ②'s scrubber follows the browser's own trace (issue 33): while gv-strength moves or the probe is typed,
the heatmaps, the state chart and the cell show the worker's numbers of the setting drawn, with no rerun; the
attribution, computed on the server, is marked stale until the setting settles and is then the new setting's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.explain.attribution import attribution
from gru_viz.explain.inference import trace_text
from gru_viz.nets.model import PRESETS, Forcing

pytestmark = pytest.mark.e2e
MODEL = Path(__file__).resolve().parents[2] / "assets" / "pretrained" / "epoch_0500.safetensors"
ROOT = ".gfc-host-root"
SCRUB = f"{ROOT} .gfc-scrub"

# What ②'s scrubber draws at the moment the condition first holds (polled every frame): the setting and
# sequence painted, the heatmaps' rows and z, the state chart's values, the cell's text, the stale mark, the
# script runs finished so far. The scrubber is scrolled into view first: its figures off screen are drawn only
# when they scroll in (scrub_lazy.js), and none on the screen may still miss a setting when the snapshot is taken.
SNAPSHOT = """(cond) => {
  const tr = window.gruVizTrace && window.gruVizTrace(), root = document.querySelector('.gfc-host-root');
  const box = document.querySelector('.gfc-scrub'), host = box && box.querySelector('.gsc-host-root');
  const S = host && host.__gsc;
  if (host) host.scrollIntoView({block: 'start'});
  // a figure still off the screen may miss the setting (it catches up when scrolled to); none on it may
  const fig = {z: S && S.heatDiv, window: S && S.heatDiv, mix: S && S.mixDiv, top: S && S.topDiv, cell: S && S.cellDiv};
  const off = (d) => { const r = d.getBoundingClientRect(); return r.top >= innerHeight || r.bottom <= 0; };
  if (!tr || !S || !S.plots || S.pendingFrame || [...S.missed].some((m) => !fig[m] || !off(fig[m]))) return null;
  if (Number(box.dataset.painted) < Number(root.dataset.asked)) return null;
  if (!new Function('tr', 'S', 'return ' + cond)(tr, S)) return null;
  const heat = S.heatDiv.data, mix = S.mixDiv.data, done = S.done.dataset;
  return {setting: tr.setting, text: tr.text, steps: tr.steps, rows: heat[0].y.map(Number), R: heat[0].z, Z: heat[1].z,
          x: heat[0].x.length, step: S.step, unit: S.unit, H: mix[3].y, Ht: mix[2].y, Hprev: mix[1].y, zbar: mix[4].y,
          cell: S.cellDiv.layout.annotations.map((a) => a.text).join(' '), stale: done.attStale,
          staleShown: S.attStale.offsetParent !== null, att: done.att || '', runs: window.__e2e.runs,
          tape: S.cells.map((c) => c.textContent).join('')};
}"""


@pytest.fixture(scope="module")
def model():
    c = load_checkpoint(MODEL)
    return c.model.double(), c.vocab, c.model


def _snapshot(app, cond: str = "true") -> dict:
    return app.page.wait_for_function(SNAPSHOT, arg=cond, timeout=60_000).json_value()


def _set_range(page, testid: str, value: float) -> None:
    page.evaluate("""([id, v]) => { const e = document.querySelector(`[data-testid="${id}"]`);
        e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }""", [testid, value])


def _check_views(snap: dict, m, vocab, f: Forcing) -> None:
    """The drawn heatmaps and the state chart at the shown step are Python's trace of this setting (inference's
    trace is float32: 1e-6; the browser's float64 numbers are checked to 1e-12 per step in test_force_live)."""
    tr = trace_text(m, vocab, snap["text"], f, normalize=False)
    rows, t = snap["rows"], snap["step"]
    assert len(snap["Z"][0]) == snap["x"] == tr.Z.shape[0] == snap["steps"]
    assert np.abs(np.array(snap["Z"]) - tr.Z[:, rows].T).max() < 1e-6
    assert np.abs(np.array(snap["R"]) - tr.R[:, rows].T).max() < 1e-6
    assert np.abs(np.array(snap["H"]) - tr.H[t, rows]).max() < 1e-6
    assert np.abs(np.array(snap["Ht"]) - tr.H_tilde[t, rows]).max() < 1e-6
    assert np.abs(np.array(snap["zbar"]) - tr.Z[t, rows]).max() < 1e-6


def _check_attribution(snap: dict, model32, vocab, f: Forcing) -> None:
    """The bars at the shown step are the server's attribution of this setting (16-bit log scale: 3.2e-4)."""
    t = snap["step"]
    want = attribution(model32, vocab.encode(snap["text"]), f)[t, : t + 1]
    got = np.array([float(x) for x in snap["att"].split("|")[0].split(",")])
    big = want > want.max() * 1e-6
    assert np.abs(got[big] / want[big] - 1).max() < 2e-3


def test_moving_the_strength_redraws_heatmaps_state_chart_and_cell_in_the_page_and_marks_attribution_stale(app, model):
    m, vocab, m32 = model
    app.open("tab=force&step=12")
    # scrolled to, the page asks for the bars of the setting shown (one rerun): they arrive
    free = _snapshot(app, "tr.setting.preset === 'free' && S.done.dataset.att")
    app.wait_idle()
    runs = app.runs()
    assert free["stale"] == "0" and not free["staleShown"] and free["att"]
    _check_views(free, m, vocab, Forcing())

    app.page.click(f"{ROOT} button[data-preset='frozen_memory']")
    for s in (0.9, 0.7, 0.5):  # a drag
        _set_range(app.page, "gv-strength", s)
        app.page.wait_for_timeout(40)
    moved = _snapshot(app, "tr.setting.preset === 'frozen_memory' && tr.setting.f_strength === 0.5")
    f = Forcing(PRESETS["frozen_memory"].reset, PRESETS["frozen_memory"].update, strength=0.5)
    assert moved["runs"] == runs, "the server reran while the control moved"
    assert moved["Z"] != free["Z"] and moved["H"] != free["H"]
    _check_views(moved, m, vocab, f)
    # the cell: the unit's Z at this step as the chart has it, and how hard the forced gate is pulled
    assert f"Z<sub>t</sub> = {moved['zbar'][moved['rows'].index(moved['unit'])]:.3f}" in moved["cell"]
    assert "strength 0.50" in moved["cell"]
    assert moved["stale"] == "1" and moved["staleShown"], "the free model's attribution shown as if current"

    # the setting rests: one rerun records it and brings the attribution of this setting
    settled = _snapshot(app, "S.done.dataset.attStale === '0' && tr.setting.f_strength === 0.5")
    app.wait_until(lambda: app.runs() >= runs + 1, "the settled setting's rerun")
    app.page.wait_for_timeout(800)
    assert app.runs() == runs + 1
    assert not settled["staleShown"]
    _check_views(settled, m, vocab, f)
    _check_attribution(settled, m32, vocab, f)
    app.shot("live-scrub-strength")


def test_typing_in_the_probe_retraces_the_scrubber_and_the_attribution_waits_for_the_settled_text(app, model):
    m, vocab, m32 = model
    app.open("tab=force")
    _snapshot(app, "S.done.dataset.att")
    app.wait_idle()
    runs = app.runs()
    app.page.click(f"{ROOT} [data-testid='gv-probe']")
    app.page.keyboard.press("Control+Home")
    app.page.keyboard.type("zebra ", delay=50)
    typed = _snapshot(app, "tr.text.startsWith('zebra ')")
    assert typed["runs"] == runs, "the server reran while typing"
    assert typed["tape"].replace("\u00a0", " ").startswith("zebra ") and typed["x"] == typed["steps"]
    assert typed["stale"] == "1" and typed["staleShown"] and typed["att"] == ""  # the old text's bars left out
    _check_views(typed, m, vocab, Forcing())
    settled = _snapshot(app, "S.done.dataset.attStale === '0' && tr.text.startsWith('zebra ')")
    # the settled text's attribution can arrive before its rerun is counted as finished: wait for the count
    app.wait_until(lambda: app.runs() >= runs + 1, "the settled text's rerun")
    assert app.runs() == runs + 1  # one rerun for the whole word
    _check_attribution(settled, m32, vocab, Forcing())


# the server's last answer for ②'s scrubber: whether it held the attribution back, and for which setting it sent one
SERVER_ATT = """() => { const a = window.__gvAttribution;
  return a ? {held: !!a.held, text: a.attribution ? a.attribution.text : null,
              forcing: a.attribution ? a.attribution.forcing : null} : null; }"""


def test_the_attribution_is_computed_only_when_its_bars_are_in_view(app, model):
    """A gradient through the whole probe costs the server about 0.2 s a settle: with ②'s scrubber scrolled
    away, a settled setting is recorded and no attribution computed ("held"); scrolled to, the page asks once
    for the bars of the setting shown, and they are that setting's."""
    m, vocab, m32 = model
    told: list[bytes] = []  # the settled settings the page sent (the component's state travels as JSON text)
    app.page.on("websocket", lambda ws: ws.on("framesent", lambda f: told.append(
        f if isinstance(f, bytes) else f.encode()) if b'"att":' in (f if isinstance(f, bytes) else f.encode())
        else None))
    asked = lambda: sum(b'"att":true' in f for f in told)  # noqa: E731
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open("tab=force")
    app.page.wait_for_selector(f"{ROOT} [data-testid='gv-ppl-free'][data-value]", timeout=90_000)
    top = app.page.evaluate(f"""() => document.querySelector('{SCRUB}').getBoundingClientRect().top""")
    assert top > app.page.viewport_size["height"], "the scrubber is on screen: this test needs it below the fold"
    app.wait_idle()
    app.rerun_after(lambda: app.page.click(f"{ROOT} button[data-preset='amnesia']"))  # settles: one rerun
    app.wait_until(lambda: told, "the settled setting")
    held = app.page.evaluate(SERVER_ATT)
    assert held["held"] and held["text"] is None, held
    assert asked() == 0 and len(told) == 1, told
    snap = _snapshot(app, "S.done.dataset.attStale === '0' && tr.setting.preset === 'amnesia' && S.done.dataset.att")
    app.wait_idle()
    app.page.wait_for_timeout(800)
    assert asked() == 1, "scrolling to the bars asked for them more than once (or never)"
    got = app.page.evaluate(SERVER_ATT)
    assert not got["held"] and got["text"] == snap["text"], got
    assert got["forcing"]["R"]["value"] == 0 and got["forcing"]["Z"] is None, got  # amnesia's, not the free model's
    _check_attribution(snap, m32, vocab, PRESETS["amnesia"])


def test_data_of_another_version_is_refused_with_a_readable_message(browser, tmp_path):
    """A page whose code and data disagree (a cached script after an upgrade) says so and draws nothing."""
    from gru_viz.views.export_html import FORCE_SOURCES, SCRUBBER_DIR, _inline_script, scrubber_js
    from gru_viz.views.scrub_payload import VERSION

    src = "\n".join((SCRUBBER_DIR / n).read_text(encoding="utf-8") for n in FORCE_SOURCES)
    src += "\n" + scrubber_js().replace("export default function scrubber(", "function scrubber(")
    other = VERSION + 1
    mount = (f"scrubber({{data: {{payload: {{version: {other}, id: 'x'}}, ui: {{labels: {{client_version: "
             f"'scrubber {{js}} {{py}}'}}}}, goto: null}}, parentElement: document.getElementById('a')}});\n"
             f"gvForceMount({{data: {{version: {other}, model: null, ui: {{client_version: 'panel {{js}} {{py}}'}}}}, "
             "parentElement: document.getElementById('b')});")
    path = tmp_path / "version.html"
    path.write_text(f"<!doctype html><meta charset='utf-8'><div id='a'></div><div id='b'></div>"
                    f"<script>{_inline_script(src)}\n{mount}</script>", encoding="utf-8")
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    assert page.text_content("#a [role=alert]") == f"scrubber {VERSION} {other}"
    assert page.text_content("#b [role=alert]") == f"panel {VERSION} {other}"
    assert page.evaluate("document.querySelectorAll('.js-plotly-plot, .gsc, .gfc').length") == 0
    assert not errors, errors
    ctx.close()


# Counts the Plotly calls on ②'s scrubber's heatmaps (restyle, relayout, react, newPlot) from now on.
COUNT_HEAT_CALLS = """() => {
  const P = window.Plotly, n = window.__heatCalls = {count: 0};
  for (const k of ['newPlot', 'react', 'restyle', 'relayout']) {
    const f = P[k];
    P[k] = function (gd, ...rest) {
      if (gd && gd.classList && gd.classList.contains('gsc-heat') && gd.closest('.gfc-scrub')) n.count += 1;
      return f.call(this, gd, ...rest);
    };
  }
}"""


def test_a_drag_with_the_scrubber_scrolled_away_draws_no_heatmap_and_the_heatmaps_catch_up_when_scrolled_to(app):
    """Work counted, not timed: while ②'s scrubber is off screen, moving a control draws none of its heatmaps
    (the panel's numbers follow); scrolled to, they show the worker's trace of the latest setting exactly."""
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open("tab=force")
    app.page.wait_for_selector(f"{ROOT} [data-testid='gv-ppl-free'][data-value]")
    app.page.wait_for_function("() => window.Plotly")
    app.page.evaluate(COUNT_HEAT_CALLS)
    app.page.click(f"{ROOT} button[data-preset='frozen_memory']")
    app.page.wait_for_function("() => { const c = document.querySelector('.gfc-curve');"
                               " return Number(c.dataset.painted) >= Number(c.dataset.asked); }")  # it moves the rest
    app.page.evaluate("() => { for (const e of [document.querySelector('[data-testid=\"stMain\"]'), "
                      "document.scrollingElement]) if (e) e.scrollTop = 0; }")
    heat_top = app.page.evaluate("() => document.querySelector('.gfc-scrub .gsc-heat').getBoundingClientRect().top")
    assert heat_top > 1.5 * 720, f"the heatmaps start at {heat_top} px: not far enough off screen for this test"
    app.page.wait_for_timeout(300)  # the observer has seen them off screen
    app.page.evaluate("window.__heatCalls.count = 0")
    for s in (0.9, 0.7, 0.5):
        _set_range(app.page, "gv-strength", s)
        app.page.wait_for_timeout(40)
    app.page.wait_for_function("""() => { const tr = window.gruVizTrace(), box = document.querySelector('.gfc-scrub');
        return tr && tr.setting.f_strength === 0.5 && Number(box.dataset.painted) >= Number(
          document.querySelector('.gfc-host-root').dataset.asked); }""")
    app.page.wait_for_timeout(500)
    assert app.page.evaluate("window.__heatCalls.count") == 0, "heatmaps off screen were drawn"
    missed = app.page.evaluate("document.querySelector('.gfc-scrub .gsc-done').dataset.missed")
    assert missed in ("charts", "z") or "z" in missed.split(), missed
    snap = _snapshot(app, "tr.setting.f_strength === 0.5")  # scrolls to the scrubber and waits for no missed view
    assert app.page.evaluate("window.__heatCalls.count") >= 1
    same = app.page.evaluate("""() => { const tr = window.gruVizTrace();
        const S = document.querySelector('.gfc-scrub .gsc-host-root').__gsc, heat = S.heatDiv.data;
        const rows = heat[1].y.map(Number);
        return rows.every((u, i) => heat[1].z[i].every((z, t) => z === tr.Z[t][u])); }""")
    assert same and snap["setting"]["preset"] == "frozen_memory"
