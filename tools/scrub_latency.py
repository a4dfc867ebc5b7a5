"""Browser benchmark of the scrubber: keypress-to-painted latency and warm page load to the first chart.

    python tools/scrub_latency.py --url http://127.0.0.1:8731 [--url http://127.0.0.1:8732 --label old] …
    python tools/scrub_latency.py --live URL   (② in the browser: a page with the gv-* hooks, the app's
                                               ?tab=force or an exported file://; input to painted, 50 events)

Drives a running app (any version: it reads only the visible heading "Step t: input", the heatmap's marker and
the per-step chart's data) in headless Chromium at 1280×720 with a 500-character probe. A step counts as painted
at the first animation frame after the one in which all three show it. Prints one JSON line per URL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import urllib.parse

import chromium
from playwright.sync_api import sync_playwright

VIEWPORT = {"width": 1280, "height": 720}
PROBE = ("the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us "
         "his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 3

# Runs in every page: the time of the first visible chart, and a per-frame check of the step being painted.
PROBE_JS = """
(() => {
  const charts = () => [...document.querySelectorAll('.js-plotly-plot')].filter(el => el.getClientRects().length);
  const L = window.__lat = {first: null, want: null, t0: null, before: null, seen: null, result: null};
  const state = () => {
    const cs = charts();
    const heat = cs.find(el => (el.data || []).some(t => t.type === 'heatmap'));
    const mix = cs.find(el => (el.data || []).some(t => /^state H/.test(String(t.name))));
    const head = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
      .map(h => h.textContent.match(/Step (\\d+): input/)).find(m => m);
    // the marker: a shape of the heatmap figure (server-side scrubber) or an overlay box (in-browser scrubber)
    const box = document.querySelector('.gsc-mark');
    const shapes = heat && heat.layout && heat.layout.shapes;
    return {head: head ? Number(head[1]) : null,
            marker: box ? box.dataset.x : shapes && shapes.length ? shapes[0].x0 : null,
            mix: mix ? JSON.stringify(mix.data.map(t => t.y)) : null};  // plain or typed arrays, or {dtype, bdata}
  };
  window.__latState = state;
  addEventListener('keydown', e => { if (L.want !== null && L.t0 === null) L.t0 = e.timeStamp; }, true);
  const frame = now => {
    if (L.first === null && charts().some(el => el._fullLayout)) L.first = now;
    if (L.want !== null && L.t0 !== null && L.seen === null) {
      const s = state();
      if (s.head === L.want && Number(s.marker) === L.want && s.mix !== null && s.mix !== L.before) {
        L.seen = now;
        requestAnimationFrame(next => { L.result = next - L.t0; });
      }
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""


def wait_idle(page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)


def page_load(browser, url: str, context=None) -> float:
    """Seconds from navigation start to the first chart with a layout: in a fresh context (a new session, an
    empty browser cache), or in `context` (a new session too, with the browser's cache of earlier loads)."""
    own = context is None
    if own:
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(PROBE_JS)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.__lat && window.__lat.first !== null", timeout=120_000)
    first = page.evaluate("window.__lat.first") / 1000
    page.close()
    if own:
        context.close()
    return first


def step_latencies(browser, url: str, steps: int) -> tuple[list[float], float | None]:
    """Milliseconds from each → press to the step being painted; then the steps per second that Play reaches
    (None for a version without an in-browser Play)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    page.goto(url)
    wait_idle(page)
    page.wait_for_function("window.__latState().mix !== null && window.__latState().head !== null", timeout=120_000)
    page.wait_for_timeout(1500)
    out = []
    for _ in range(steps):
        state = page.evaluate("window.__latState()")
        page.evaluate("""([want, before]) => { Object.assign(window.__lat, {want, before, t0: null, seen: null,
                                                                           result: null});
                                              document.activeElement?.blur(); }""", [state["head"] + 1, state["mix"]])
        page.keyboard.press("ArrowRight")
        page.wait_for_function("window.__lat.result !== null", timeout=60_000)
        out.append(page.evaluate("window.__lat.result"))
        wait_idle(page)  # the old scrubber reruns on the server at every press: let it finish first
        page.wait_for_timeout(150)
    rate = None
    if page.locator("[data-testid='gruScrubber']").count():
        page.wait_for_timeout(800)
        page.keyboard.press("Home")
        start = page.evaluate("window.__latState().head")
        page.keyboard.press("Space")
        page.wait_for_timeout(3000)
        page.keyboard.press("Space")
        rate = (page.evaluate("window.__latState().head") - start) / 3.0
    context.close()
    return out, rate


# ② in the browser: per event, the time from the input event to the frame after the views of that setting are
# painted (force.js marks data-painted >= data-asked), to the frame after ②'s scrubber (heatmaps, state chart,
# cell) shows that trace with its figures drawn, and to the frame after the continuations and the degradation
# curve are (the continuations' own marks where the page has them: a version that paints them with the numbers
# has none).
LIVE_JS = """
async ([kind, n, gap]) => {
  const root = document.querySelector('.gfc-host-root'), curve = root.querySelector('.gfc-curve');
  const frame = () => new Promise(requestAnimationFrame);
  const views = [], full = [], scrub = [];
  // ②'s scrubber shows that trace: its figures on screen drawn (those off screen wait until scrolled to)
  const scrubAt = (asked) => { const h = root.querySelector('.gfc-scrub .gsc-host-root'), S = h && h.__gsc;
    return !h || (S && (S.plots || S.done.dataset.missed === 'charts') && !S.pendingFrame
                  && Number(String(S.p.id).replace('live-', '')) >= asked); };
  const z = root.querySelector('[data-testid="gv-force-z"]'), probe = root.querySelector('[data-testid="gv-probe"]');
  const cont = root.querySelector('[data-testid="gv-cont-forced"]');
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    if (kind === 'control') { z.value = String(0.05 * (1 + (i % 19))); z.dispatchEvent(new Event('input')); }
    else if (kind === 'jump') { // each move the other way from 0.5 by a new amount: no two steps alike
      z.value = String(0.05 * (10 + (i % 2 ? 1 : -1) * (1 + (i % 9)))); z.dispatchEvent(new Event('input')); }
    else { probe.value += 'abcdefghij klmnopqrst uvwxyz'[i % 28]; probe.dispatchEvent(new Event('input')); }
    const asked = Number(root.dataset.asked), cAsked = Number(curve.dataset.asked || 0);
    const kAsked = cont.dataset.asked === undefined ? null : Number(cont.dataset.asked);
    let tv = null, tc = null, ts = null;
    while (tv === null || tc === null || ts === null) {
      await frame();
      const now = performance.now();
      if (tv === null && Number(root.dataset.painted || -1) >= asked) { await frame(); tv = performance.now() - t0; }
      const curveDone = (cAsked === 0 || Number(curve.dataset.painted || -1) >= cAsked)
        && (kAsked === null || Number(cont.dataset.painted || -1) >= kAsked);
      if (tc === null && Number(root.dataset.painted || -1) >= asked && curveDone) {
        await frame(); tc = performance.now() - t0;
      }
      if (ts === null && scrubAt(asked)) { await frame(); ts = performance.now() - t0; }
      if (now - t0 > 30000) break;
    }
    views.push(tv); full.push(tc); scrub.push(ts);
    await new Promise(r => setTimeout(r, gap));
  }
  return {views, full, scrub};
}
"""


def live_latencies(browser, url: str, events: int, gap_ms: int = 150) -> dict:
    """② in the browser: input → painted over `events` moves of the Z control one step at a time (a drag, arrow
    keys), `events` jumps of it by a new amount each time (no next setting to guess) and `events` typed characters."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("[data-testid='gv-ppl-free'][data-value]", timeout=120_000)
    # where a student moving the controls looks: the probe box at the top of the window, the controls, numbers
    # and curve below it (at 1280×720 the top of the heatmaps too; the rest of the scrubber is off screen)
    page.locator("[data-testid='gv-probe']").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1500)
    out = {}
    for kind in ("control", "jump", "typed"):
        r = page.evaluate(LIVE_JS, [kind, events, gap_ms])
        views, full = [v for v in r["views"] if v is not None], [v for v in r["full"] if v is not None]
        scrub = [v for v in r["scrub"] if v is not None]
        out[kind] = {"events": len(views), "views_ms_p50": round(statistics.median(views), 1),
                     "views_ms_p95": round(pct(views, 0.95), 1),
                     "scrubber_ms_p50": round(statistics.median(scrub), 1) if scrub else None,
                     "scrubber_ms_p95": round(pct(scrub, 0.95), 1) if scrub else None,
                     "with_curve_ms_p50": round(statistics.median(full), 1),
                     "with_curve_ms_p95": round(pct(full, 0.95), 1)}
    context.close()
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", action="append", default=[], help="a running app (repeat to compare)")
    ap.add_argument("--live", action="append", default=[], help="a page with ②'s gv-* hooks (app or exported file)")
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--label", action="append", help="a name per --url")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--loads", type=int, default=7)
    args = ap.parse_args()
    labels = args.label or [f"app{i}" for i in range(len(args.url))]
    query = "?" + urllib.parse.urlencode({"probe": PROBE})
    with sync_playwright() as p:
        browser = chromium.launch(p)
        for url in args.live:
            print(json.dumps({"live": url, **live_latencies(browser, url, args.events)}), flush=True)
        for label, base in zip(labels, args.url):
            url = base.rstrip("/") + "/" + query
            page_load(browser, url)  # warm-up: the server traces the probe and caches it
            loads = [page_load(browser, url) for _ in range(args.loads)]
            cached = browser.new_context(viewport=VIEWPORT)
            cached.add_init_script(PROBE_JS)
            page_load(browser, url, cached)
            cached_loads = [page_load(browser, url, cached) for _ in range(args.loads)]
            cached.close()
            lat, rate = step_latencies(browser, url, args.steps)
            print(json.dumps({"label": label, "url": base, "steps": len(lat),
                              "step_ms_p50": round(statistics.median(lat), 1), "step_ms_p95": round(pct(lat, 0.95), 1),
                              "step_ms_max": round(max(lat), 1), "play_steps_per_s": rate and round(rate, 1),
                              "first_chart_s_median": round(statistics.median(loads), 2),
                              "first_chart_s": [round(v, 2) for v in loads],
                              "first_chart_s_median_browser_cache": round(statistics.median(cached_loads), 2),
                              "first_chart_s_browser_cache": [round(v, 2) for v in cached_loads]}), flush=True)
        browser.close()


if __name__ == "__main__":
    main()
