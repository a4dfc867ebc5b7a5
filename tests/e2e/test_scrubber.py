"""End-to-end: the in-browser scrubber (gru_viz/ui/scrubber) in headless Chromium against the real app.

Stepping, hovering and clicking must be answered in the browser: these tests count the server's script runs and
websocket messages around them. Screenshots go to artifacts/e2e/. No assertion here is about time.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
from conftest import assert_nothing_fetched, open_offline

pytestmark = pytest.mark.e2e

PROBE = ("the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us "
         "his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 3
ROOT = "[data-testid='gruScrubber']"

# One reading of every part that follows the step (run in the page; the scrubber is not in a shadow root).
PARTS_JS = """
() => {
  const root = document.querySelector("ROOT");
  if (!root) return null;
  const [heat, mix, top] = root.querySelectorAll('.js-plotly-plot');
  const done = root.querySelector('.gsc-done');
  if (!heat || !mix || !top || !heat.layout) return null;
  return {
    step: Number(done.dataset.step), unit: Number(done.dataset.unit), builds: Number(done.dataset.builds || 0),
    heading: root.querySelector('.gsc-heading').textContent,
    tape: [...root.querySelectorAll('.gsc-ch')].findIndex(c => c.classList.contains('gsc-cur')),
    // the marker boxes over R and Z: the step they mark and whether they sit on that step's column
    marker: [...root.querySelectorAll('.gsc-mark')].map(m => Number(m.dataset.x)),
    markerPlaced: [...root.querySelectorAll('.gsc-mark')].every((m, k) => {
      const xa = heat._fullLayout[k ? 'xaxis2' : 'xaxis'], x = xa._offset + xa.l2p(Number(m.dataset.x));
      return m.style.display === 'none' || Math.abs(parseFloat(m.style.left) + 1.5 - x) < 1;
    }),
    mix: JSON.stringify(mix.data.slice(0, 5).map(t => Array.from(t.y))),
    weights: JSON.stringify(Array.from(mix.data[4].y)),
    top: JSON.stringify([Array.from(top.data[0].x), Array.from(top.data[0].y)]),
    equation: root.querySelector('.gsc-eq').textContent.replace(/\\s+/g, ' ').trim(),
    slider: Number(root.querySelector('.gsc-slider input').value),
    hoverRow: (r => r === '' ? null : Number(r))(root.querySelector('.gsc-row-hov').dataset.row ?? ''),
    hoverRows: [...root.querySelectorAll('.gsc-row-hov')].filter(e => e.style.display === 'block').length,
    hoverBand: (r => r === '' ? null : Number(r))(root.querySelector('.gsc-band-hov').dataset.row ?? ''),
    selectedRows: [...root.querySelectorAll('.gsc-row-sel')].map(e => e.dataset.row),
    hoverTape: [...root.querySelectorAll('.gsc-ch')].findIndex(c => c.classList.contains('gsc-hov')),
  };
}
""".replace("ROOT", ROOT)

# Sizes of the server's websocket messages, kept beside conftest's counters.
WS_SIZES_JS = """
window.__wsBytes = [];
const WrappedWebSocket = window.WebSocket;
window.WebSocket = class extends WrappedWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', ev => window.__wsBytes.push(ev.data.byteLength ?? ev.data.size ?? ev.data.length));
  }
};
"""


def parts(app) -> dict | None:
    return app.page.evaluate(PARTS_JS)


def open_scrubber(app, query: str = "") -> dict:
    """Open the app with `query`, wait for the scrubber's three charts; returns the parts."""
    app.open(query)
    app.page.wait_for_selector(f"{ROOT} .gsc-done[data-charts='1']", state="attached")
    return app.wait_until(lambda: parts(app), "the scrubber's charts")


def probe_query(text: str = PROBE, **extra: object) -> str:  # cut to 500 characters by the app
    return urllib.parse.urlencode({"probe": text, **extra})


def heat(app, what: str):
    """A property of the heatmaps' figure, e.g. "data[0].y" (the rows' unit numbers)."""
    return app.page.evaluate(f"r => document.querySelector(r + ' .gsc-heat').{what}", ROOT)


def counters(app) -> tuple[int, int]:
    return tuple(app.page.evaluate("[window.__e2e.runs, window.__e2e.msgs]"))


def test_20_presses_change_every_part_and_the_server_hears_only_the_settled_step(app):
    app.page.add_init_script(WS_SIZES_JS)
    first = open_scrubber(app, probe_query())
    assert first["step"] == 0 and first["slider"] == 0 and first["tape"] == 0
    assert app.page.locator(f"{ROOT} .gsc-ch").count() == 500
    app.page.wait_for_timeout(1000)  # let the page settle: nothing may be pending from the first load
    runs, msgs = counters(app)
    app.page.evaluate("() => { document.activeElement?.blur(); }")
    before = first
    for i in range(1, 21):
        app.page.keyboard.press("ArrowRight")
        now = parts(app)
        assert now["step"] == i and now["slider"] == i and now["tape"] == i, now
        assert now["heading"].startswith(f"Step {i}: input")
        assert now["marker"] == [i, i] and now["markerPlaced"]
        for part in ("mix", "weights", "top", "equation"):
            assert now[part] != before[part], f"press {i}: {part} did not change"
        assert f"Unit {now['unit']} at step {i}" in now["equation"]
        before = now
    assert counters(app) == (runs, msgs), "the server ran the script or sent something during the presses"
    assert before["builds"] == first["builds"], "a press redrew a whole figure"
    # settled: one message to the server, one fragment run, and the URL follows; nothing is drawn anew
    app.page.wait_for_function("n => window.__e2e.runs > n && window.__e2e.idle()", arg=runs)
    app.wait_until(lambda: "step=20" in app.page.url, "step=20 in the address bar")
    app.page.wait_for_timeout(1500)
    assert counters(app)[0] == runs + 1, "more than one script run after the presses settled"
    after = parts(app)
    assert after["builds"] == first["builds"] and after["step"] == 20, after
    sizes = app.page.evaluate("window.__wsBytes")[-(counters(app)[1] - msgs):]
    print(f"[bytes] the settled step's rerun: {len(sizes)} messages, {sum(sizes)} bytes")
    assert sum(sizes) < 20_000, f"the settled step's rerun sent {sum(sizes)} bytes (the trace again?)"
    app.shot("after-20-steps")


def test_buttons_slider_keys_and_jump_box(app):
    first = open_scrubber(app)
    last = int(app.page.locator(f"{ROOT} .gsc-slider input").get_attribute("max"))
    assert last > 2
    for name, expected in (("Forward", 1), ("Back", 0), ("Last", last), ("First", 0)):
        app.page.locator(ROOT).get_by_role("button", name=name, exact=True).click()
        assert parts(app)["step"] == expected, name
    app.page.evaluate("() => document.activeElement?.blur()")
    for key, expected in (("ArrowRight", 1), ("End", last), ("ArrowLeft", last - 1), ("Home", 0)):
        app.page.keyboard.press(key)
        assert parts(app)["step"] == expected, key
    app.page.locator(f"{ROOT} .gsc-slider input").fill("7")
    assert parts(app)["step"] == 7
    jump = app.page.locator(ROOT).get_by_placeholder("a character, e.g. t")
    jump.fill("v")
    text = app.page.evaluate("r => [...document.querySelectorAll(r + ' .gsc-ch')].map(c => c.textContent).join('')",
                             ROOT)
    assert text[parts(app)["step"]] == "v"
    # Space plays and pauses (the keyboard, with nothing focused); playing moves on by itself
    app.page.evaluate("() => document.activeElement?.blur()")
    start = parts(app)["step"]
    app.page.keyboard.press("Space")
    app.page.wait_for_function("([r, n]) => Number(document.querySelector(r + ' .gsc-done').dataset.step) >= n",
                               arg=[ROOT, start + 5])
    app.page.keyboard.press("Space")
    paused = parts(app)["step"]
    app.page.wait_for_timeout(400)
    assert parts(app)["step"] == paused, "still playing after Space"
    assert parts(app)["builds"] == first["builds"]
    app.assert_no_exception()


def test_hover_and_click_link_the_views(app):
    first = open_scrubber(app)
    box = app.page.locator(f"{ROOT} .gsc-heat .nsewdrag").first.bounding_box()
    app.page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    hovered = app.wait_until(lambda: (lambda p: p if p["hoverRow"] is not None else None)(parts(app)), "a hover")
    # the unit's row is outlined in both heatmaps and its band shown in the state chart; the step on the tape
    assert hovered["hoverBand"] == hovered["hoverRow"] and hovered["hoverRows"] == 2
    assert hovered["hoverTape"] >= 0
    assert hovered["step"] == first["step"], "hovering must not move the step"
    app.page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    clicked = parts(app)
    assert clicked["step"] == hovered["hoverTape"], "a click selects the cell's step"
    units = heat(app, "data[0].y")
    assert str(clicked["unit"]) == units[int(hovered["hoverRow"])], "a click selects the cell's unit"
    assert clicked["selectedRows"] == [str(hovered["hoverRow"])] * 2  # outlined in R and Z
    assert f"Unit {clicked['unit']} at step {clicked['step']}" in clicked["equation"]
    app.shot("hover-click")
    # hovering a character of the tape shows that step; leaving the tape goes back
    app.page.mouse.move(0, 0)
    cell = app.page.locator(f"{ROOT} .gsc-ch").nth(clicked["step"] + 3)
    cell.hover()
    assert parts(app)["heading"].startswith(f"Step {clicked['step'] + 3}: input")
    app.page.mouse.move(0, 0)
    assert parts(app)["heading"].startswith(f"Step {clicked['step']}: input")
    # the settled (step, unit) reaches the server and the URL
    app.wait_until(lambda: f"step={clicked['step']}" in app.page.url and f"unit={clicked['unit']}" in app.page.url,
                   "the clicked step and unit in the address bar")
    assert parts(app)["builds"] == first["builds"]
    app.assert_no_exception()


def test_a_link_reopens_step_and_unit_and_a_unit_outside_the_rows_gets_one(app):
    open_scrubber(app)
    rows = heat(app, "data[0].y")
    unit = next(u for u in range(256) if str(u) not in rows)
    shown = open_scrubber(app, f"step=14&unit={unit}")
    assert shown["step"] == 14 and shown["unit"] == unit
    assert shown["heading"].startswith("Step 14: input")
    assert f"Unit {unit} at step 14" in shown["equation"]
    rows = heat(app, "data[0].y")
    assert str(unit) in rows and len(rows) == 33  # the 32 most variable units, and the one the link asked for
    # a preset recomputes the trace on the server once: one new drawing, the step and unit kept
    app.rerun_after(app.button("Plain RNN (Z=0, R=1)", exact=False).click)
    forced = app.wait_until(lambda: (lambda p: p if p and p["builds"] > shown["builds"] else None)(parts(app)),
                            "the forced trace drawn")
    assert forced["builds"] == shown["builds"] + 1 and forced["step"] == 14 and forced["unit"] == unit
    z = heat(app, "data[1].z.flat()")
    assert set(z) == {0}, "Plain RNN holds Z at 0"
    app.assert_no_exception()


def test_exported_html_scrubs_from_disk_with_the_network_off(app, browser, tmp_path):
    open_scrubber(app)
    # the settled step reaches the server (one rerun after the key settles), so the file opens on it; the address
    # bar is written by the browser at once, so it cannot tell that the server heard it
    app.rerun_after(lambda: app.page.keyboard.press("End"))
    last = parts(app)["step"]
    app.wait_until(lambda: f"step={last}" in app.page.url, "the last step in the address bar")
    app.wait_idle()
    with app.page.expect_download() as info:
        app.main.get_by_role("button", name=re.compile("Download this view")).click()
    path = tmp_path / "view.html"
    info.value.save_as(path)
    html = path.read_text(encoding="utf-8")
    assert "plotly.js v" in html and "<script src" not in html and "<link" not in html
    opened = open_offline(browser, path)
    page = opened.page
    page.wait_for_selector(f"{ROOT} .gsc-done[data-charts='1']", state="attached")
    assert page.evaluate(PARTS_JS)["step"] == last  # opened on the step shown when it was downloaded
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    after = page.evaluate(PARTS_JS)
    assert after["step"] == 1 and after["marker"] == [1, 1] and after["heading"].startswith("Step 1: input")
    page.screenshot(path=str(app.shot("export-source").parent / "exported-html.png"))
    assert_nothing_fetched(opened)


@pytest.mark.parametrize("size, lang, proj", [("1600x1000", "en", False), ("1600x1000", "zh", False),
                                              ("1280x720", "en", True), ("1280x720", "zh", True)])
def test_screenshots_in_both_languages_and_projector_mode(app, size, lang, proj):
    width, height = (int(v) for v in size.split("x"))
    app.page.set_viewport_size({"width": width, "height": height})
    query = {"lang": lang, **({"proj": "true"} if proj else {})}
    shown = open_scrubber(app, urllib.parse.urlencode(query))
    head = re.compile(r"第 0 步：输入" if lang == "zh" else r"Step 0: input")
    assert head.search(shown["heading"]), shown["heading"]
    box = app.page.locator(f"{ROOT} .gsc-heat").bounding_box()
    controls = app.page.locator(f"{ROOT} .gsc-controls").bounding_box()
    if proj:  # charts first, controls below them
        assert box["y"] < controls["y"]
        assert box["y"] < height, "no chart on the first screen in projector mode"
    app.page.keyboard.press("ArrowRight")
    app.page.wait_for_timeout(300)
    app.assert_no_exception()
    app.shot(f"{'projector' if proj else 'scrubber'}-{lang}-{size}", show=app.page.locator(f"{ROOT} .gsc-head"))


CELL_JS = """
() => {
  const root = document.querySelector("ROOT"), cell = root && root.querySelector('.gsc-cell');
  if (!cell || !cell.layout || !cell.dataset.step) return null;
  return {step: Number(cell.dataset.step), unit: Number(cell.dataset.unit),
          texts: cell.layout.annotations.map(a => a.text).filter(Boolean).join(' | '),
          bars: [...root.querySelectorAll('.gsc-bars')].map(
            s => [...s.querySelectorAll('i')].map(i => i.style.height).join(',')),
          att: root.querySelector('.gsc-done').dataset.att};
}
""".replace("ROOT", ROOT)


def test_stepping_moves_the_cell_diagram_and_the_attribution_bars_with_the_traces_numbers_and_no_rerun(app):
    from gru_viz.checkpoints.checkpoint import load_checkpoint
    from gru_viz.explain.inference import trace_text
    from gru_viz.nets.model import PRESETS

    open_scrubber(app, probe_query(preset="amnesia"))
    app.wait_until(lambda: app.page.evaluate(CELL_JS), "the cell diagram")
    app.page.wait_for_timeout(1000)
    runs, msgs = counters(app)
    app.page.evaluate("() => { document.activeElement?.blur(); }")
    ck = load_checkpoint(pytest.importorskip("pathlib").Path(__file__).resolve().parents[2]
                         / "assets" / "pretrained" / "epoch_0500.safetensors")
    tr = trace_text(ck.model, ck.vocab, PROBE[:500], PRESETS["amnesia"], normalize=False)
    before = app.page.evaluate(CELL_JS)
    assert len(before["bars"]) == 2, "forced: the forced and the free model's bars"
    for i in range(1, 8):
        app.page.keyboard.press("ArrowRight")

        def moved(i=i, before=before):  # the bars follow just after the paint: on a loaded machine, a moment later
            now = app.page.evaluate(CELL_JS)
            changed = now["texts"] != before["texts"] and now["bars"] != before["bars"]
            return now if now["step"] == i and changed else None

        now = app.wait_until(moved, f"step {i}'s equation and attribution bars", timeout_s=10)
        u = now["unit"]
        nums = {k: float(v.replace("\u2212", "-")) for k, v in
                re.findall(r"(?<!\u2212 )(R|Z|H̃|H)<sub>t(?:\u22121)?</sub> = ([+\u2212]?\d\.\d{3})", now["texts"])}
        prev = re.search(r"H<sub>t\u22121</sub> = ([+\u2212]\d\.\d{3})", now["texts"]).group(1)
        assert "forced = 0" in now["texts"]  # amnesia: R is clamped at 0 on every unit
        assert abs(nums["R"] - tr.R[i, u]) <= 6e-4 and abs(nums["Z"] - tr.Z[i, u]) <= 6e-4
        assert abs(nums["H̃"] - tr.H_tilde[i, u]) <= 6e-4 and abs(nums["H"] - tr.H[i, u]) <= 6e-4  # H_t: last
        assert abs(float(prev.replace("\u2212", "-")) - tr.H_prev[i, u]) <= 6e-4
        # the bars' step: i + 1 values per row, the row ending at the current character
        assert [len(r.split(",")) for r in now["att"].split("|")] == [i + 1, i + 1]
        before = now
    assert counters(app) == (runs, msgs), "the server ran the script or sent something during the presses"
    app.shot("cell-and-attribution")
