"""The page the browser tests drive: AppPage (waits on Streamlit's own markers, readers of charts and text), the
script installed in every page before the app loads (INIT_JS), and the shared waits' limits (conftest.py builds
the fixtures on it)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
TIMINGS = ARTIFACTS / "timings.txt"
VIEWPORT = {"width": 1600, "height": 1000}
TIMEOUT_MS = 45_000  # default for every Playwright wait: generous, a 2-core machine also runs the browser

APP_READY = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
APP_IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"

# Installed in every page before the app loads (window.__e2e), so Python and in-browser waits share it:
# - runs: finished script runs (full and fragment reruns): stApp's data-test-script-state going running ->
#   notRunning. A test waits for "the rerun my click caused has finished" instead of sleeping.
# - msgs / lastMsg: websocket messages from the server and when the last one came (a second, independent sign
#   that a rerun happened, in case a very fast run never showed "running" in the DOM).
# - broken(): the text of a visible exception, or of an error box in the main area (the app's error boundary
#   turns exceptions into st.error "Something went wrong: …"); '' when there is none.
# - fingerprint(regex): the data of the visible chart with a trace named like it, as one string.
# - plots(): every visible Plotly chart's `data`, each trace reduced to its name, type and point count (typed
#   arrays arrive as {dtype, bdata}, lists as lists).
INIT_JS = """
window.__e2e = {
  runs: 0,
  msgs: 0,
  lastMsg: 0,
  visible: el => el.getClientRects().length > 0,
  broken: () => [...document.querySelectorAll(
      "[data-testid='stException'], [data-testid='stMain'] [data-testid='stAlertContentError']")]
    .filter(el => window.__e2e.visible(el)).map(el => el.innerText.trim()).join('\\n---\\n'),
  idle: () => document.querySelector("IDLE") !== null && document.querySelector("READY") !== null,
  // fingerprint of the first visible chart having a trace named like `rx`; only that chart is serialised
  fingerprint: rx => {
    const el = [...document.querySelectorAll('.js-plotly-plot')]
      .find(el => window.__e2e.visible(el) && (el.data || []).some(t => rx.test(String(t.name))));
    return el ? JSON.stringify(el.data.map(t => [t.x, t.y, t.z])) : null;
  },
  plots: () => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(el => window.__e2e.visible(el))
    .map(el => (el.data || []).map(t => {
      const width = {f8: 8, i8: 8, u8: 8, f4: 4, i4: 4, u4: 4, i2: 2, u2: 2};
      const size = v => v == null ? 0 : (Array.isArray(v) || ArrayBuffer.isView(v)) ? v.length
        : v.bdata ? Math.round(atob(v.bdata).length / (width[v.dtype] || 1)) : 0;
      return {name: t.name == null ? '' : String(t.name), type: t.type || '', n: Math.max(size(t.x), size(t.y))};
    })),
};
new MutationObserver(records => {
  for (const r of records) {
    if (r.target.getAttribute('data-testid') !== 'stApp') continue;
    if (r.target.getAttribute('data-test-script-state') === 'notRunning' && r.oldValue !== 'notRunning') {
      window.__e2e.runs += 1;
    }
  }
}).observe(document, {attributes: true, subtree: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', () => { window.__e2e.msgs += 1; window.__e2e.lastMsg = performance.now(); });
  }
};
""".replace("IDLE", APP_IDLE).replace("READY", APP_READY)  # both selectors quote with ' only


def record_timing(test: str, what: str, *seconds: float) -> None:
    """Print measured latencies (shown with -s) and append them to artifacts/e2e/timings.txt."""
    ms = " / ".join(f"{s * 1000:.0f}" for s in seconds) + " ms"
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')}\t{test}\t{what}\t{ms}"
    print(f"[timing] {what}: {ms}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with TIMINGS.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


class AppPage:
    """One browser tab on the app, with the waits and readers the tests share.

    Everything waits on Streamlit's own markers; nothing sleeps a fixed time except where a test must show
    that something does *not* change. Widgets are found by their visible labels (English).
    """

    def __init__(self, page, server: Server, test_name: str):
        self.page, self.server, self.test_name = page, server, test_name
        self.log_offset = server.log_size()
        self.shots: list[Path] = []

    # --- navigation and waiting ---
    def open(self, query: str = "") -> AppPage:
        """Load the app (optionally with a query string such as 'lang=…&step=5') and wait for the first run."""
        self.page.goto(self.server.url + "/" + (f"?{query.lstrip('?')}" if query else ""))
        self.wait_idle()
        return self

    def wait_idle(self, timeout_s: float = TIMEOUT_MS / 1000) -> None:
        """Connected and no script running; fails at once, with the log, should the server have exited."""
        deadline = time.monotonic() + timeout_s
        for selector in (APP_READY, APP_IDLE):
            while True:
                self.assert_server_alive()
                try:
                    self.page.wait_for_selector(selector, timeout=1000)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise

    def runs(self) -> int:
        return int(self.page.evaluate("window.__e2e.runs"))

    def rerun_after(self, action: Callable[[], object], count: int = 1) -> float:
        """Do `action` (a click, a key press…), wait until `count` more script runs have finished and the app is
        idle; returns the seconds that took. Should a run be too fast to show "running" in the DOM, messages
        from the server followed by 300 ms of quiet count as well."""
        before, msgs = self.page.evaluate("[window.__e2e.runs, window.__e2e.msgs]")
        t0 = time.perf_counter()
        action()
        self.page.wait_for_function(
            """([n, m]) => { const e = window.__e2e;
                 if (e.broken()) return true;
                 return e.idle() && (e.runs >= n || (e.msgs > m && performance.now() - e.lastMsg > 300)); }""",
            arg=[before + count, msgs])
        self.assert_not_broken()
        return time.perf_counter() - t0

    def wait_until(self, predicate: Callable[[], object], what: str, timeout_s: float = TIMEOUT_MS / 1000):
        """Poll `predicate` (Python, reading the page) until it returns something truthy; returns that value."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.assert_not_broken()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; page: {self.dump()}")
            self.page.wait_for_timeout(100)

    def idle(self) -> bool:
        return bool(self.page.evaluate("window.__e2e.idle()"))

    def settle(self, count: int = 1) -> None:
        """Wait for `count` more script runs (e.g. fragment timer reruns) to finish."""
        self.rerun_after(lambda: None, count)

    def open_tab(self, label: str) -> None:
        """A click on a tab reruns the page with only that tab drawn; wait for the run and the selected tab."""
        tab = self.page.get_by_role("tab", name=label, exact=True)
        if tab.get_attribute("aria-selected") != "true":
            self.rerun_after(tab.click)
        self.page.wait_for_function(
            "label => [...document.querySelectorAll('[role=tab]')].some("
            "t => t.innerText.trim() === label && t.getAttribute('aria-selected') === 'true')", arg=label)

    # --- locating ---
    @property
    def main(self):
        return self.page.get_by_test_id("stMain")

    @property
    def sidebar(self):
        return self.page.get_by_test_id("stSidebar")

    def button(self, name: str, exact: bool = True):
        """A visible button in the main area (hidden tabs' buttons and the toolbar's Stop are not matched)."""
        return self.main.get_by_role("button", name=name, exact=exact)

    def set_number(self, label: str, value: int | float) -> None:
        """Type into a sidebar number input and commit it (Enter), waiting for the rerun it causes."""
        box = self.sidebar.get_by_label(label, exact=True)
        if box.input_value() == str(value):
            return
        box.fill(str(value))
        self.rerun_after(lambda: box.press("Enter"))
        assert box.input_value() == str(value), f"{label}: {box.input_value()!r} after typing {value}"

    def choose_radio(self, option: str, within=None) -> None:
        """Click a radio option by its visible text and wait for the rerun."""
        scope = within if within is not None else self.page
        opt = scope.get_by_test_id("stRadioOption").filter(has=self.page.get_by_text(option, exact=True))
        if opt.locator("input").is_checked():
            return
        self.rerun_after(opt.click)
        assert opt.locator("input").is_checked(), f"radio option {option!r} is not selected"

    def press(self, key: str) -> None:
        """A keyboard shortcut on the page itself: nothing focused, so no text field swallows the key."""
        self.page.evaluate("() => { document.activeElement?.blur(); document.body.focus(); }")
        self.page.keyboard.press(key)

    # --- reading ---
    def plots(self) -> list[list[dict]]:
        """Visible Plotly charts, each a list of traces {name, type, n (points)}."""
        return self.page.evaluate("window.__e2e.plots()")

    def wait_plots(self, n: int) -> int:
        """Wait until at least `n` Plotly charts are visible; returns how many are."""
        return self.wait_until(lambda: (lambda k: k if k >= n else 0)(len(self.plots())), f"{n} visible charts")

    def plot_with_trace(self, pattern: str) -> list[dict] | None:
        """The visible chart having a trace whose name matches `pattern` (a regex), or None."""
        rx = re.compile(pattern)
        for plot in self.plots():
            if any(rx.search(t["name"]) for t in plot):
                return plot
        return None

    def exceptions(self) -> list[str]:
        return self.page.locator(EXCEPTION).all_inner_texts()

    def assert_not_broken(self) -> None:
        """Fail at once when the page shows an exception or an error box in the main area."""
        self.assert_server_alive()
        broken = self.page.evaluate("window.__e2e.broken()")
        assert not broken, f"the app shows an error:\n{broken}"

    def assert_server_alive(self) -> None:
        if not self.server.alive():
            raise AssertionError(f"the streamlit server exited (code {self.server.proc.returncode}); "
                                 f"log tail:\n{self.server.log_tail(1500)}")

    def server_tracebacks(self) -> list[str]:
        """Tracebacks the server logged since this test began (the error boundary logs what it catches)."""
        text = self.server.log_since(self.log_offset)
        return [block for block in re.split(r"(?=^Traceback \(most recent call last\):)", text, flags=re.M)
                if block.startswith("Traceback")]

    def assert_no_exception(self) -> None:
        """No exception element, no error box in the main area, no traceback in the server log."""
        self.assert_not_broken()
        errors = self.exceptions()
        assert not errors, "the app shows an exception:\n" + "\n---\n".join(errors)
        tracebacks = self.server_tracebacks()
        assert not tracebacks, "the server logged:\n" + "\n".join(tracebacks)[-3000:]

    # --- acting ---
    def upload(self, uploader, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
        """Put a file into a st.file_uploader (via its hidden <input type=file>) and wait until it is listed.
        An input replaced by a rerun at that very moment would drop the file silently: then try once more."""
        for attempt in (1, 2):
            uploader.locator("input[type='file']").set_input_files(
                files=[{"name": name, "mimeType": mime, "buffer": data}])
            try:
                uploader.get_by_text(name, exact=True).wait_for(timeout=10_000)
                return
            except Exception:
                if attempt == 2:
                    raise
                print(f"[retry] {name} was not listed after 10 s; uploading it again")

    def shot(self, name: str, show=None) -> Path:
        """Screenshot the viewport into artifacts/e2e/<test>-<name>.png; `show` (a locator) is scrolled into view
        first (Streamlit scrolls inside its main area and sidebar, so a full-page shot would not reach it)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{name}.png"
        if show is not None:
            show.scroll_into_view_if_needed()
        self.page.screenshot(path=str(path))
        self.shots.append(path)
        print(f"[screenshot] {path}")
        return path

    def timing(self, what: str, *seconds: float) -> None:
        record_timing(self.test_name, what, *seconds)

    def dump(self) -> str:
        """A short description of the page for failure messages."""
        return json.dumps({"exceptions": self.exceptions(), "plots": [[t["name"] for t in p] for p in self.plots()]})
