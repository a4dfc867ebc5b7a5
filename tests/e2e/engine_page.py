"""A file:// page that runs the model worker's sources (gru_viz/ui/scrubber/model_*.js) on one model, for the
engine's browser tests; and the text they probe with (written for these tests, never the book's)."""

from __future__ import annotations

import json
from pathlib import Path

from gru_viz.views.export_html import MODEL_SOURCES, SCRUBBER_DIR, _inline_script

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "pretrained" / "epoch_0500.safetensors"
RAW_MODEL = ROOT / "assets" / "pretrained_raw" / "epoch_0030.safetensors"
# Text written for these tests (never the book's): a default-length probe and a 500-character one.
SHORT = ("The traveller held the small machine up to the lamp and we saw that it was made of ivory and a clear "
         "crystal, and that one of its levers had been turned, so that the whole thing seemed to shiver.")
LONG = (SHORT + " Nobody in the room believed him at first. The doctor laughed, the editor asked for another glass, "
        "and the young man by the fire said that time was only a kind of space, which we move along without "
        "thinking about it at all. Then the little model vanished, and the room went quiet, and we looked at "
        "one another as people do when they have seen a trick they cannot")[:500]

HARNESS = """
window.gvClient = new GvModelClient();
window.gvRun = (kind, q) => new Promise((ok, bad) => {
  gvClient.on(kind, ok); gvClient.onerror = bad; gvClient.submit(kind, q);
});
const b64 = (a) => { const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); let s = "";
  for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
  return btoa(s); };
window.gvPacked = async (q) => { const r = await gvRun("job", q); const t = r.trace || {};
  const arrays = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, b64(v)]));
  return { ...r, trace: null, top: null, arrays }; };
"""


def open_engine_page(browser, tmp_path: Path, payload: dict):
    """A file:// page with the model worker's sources, the model loaded into a worker; errors collected."""
    src = "\n".join((SCRUBBER_DIR / n).read_text(encoding="utf-8") for n in MODEL_SOURCES)
    blob = json.dumps(payload).replace("<", "\\u003c")
    html = (f"<!doctype html><meta charset='utf-8'><script>{_inline_script(src)}\n{HARNESS}</script>"
            f"<script type='application/json' id='m'>{blob}</script>"
            "<script>gvClient.load(JSON.parse(document.getElementById('m').textContent));</script>")
    path = tmp_path / f"engine-{payload['id']}.html"
    path.write_text(html, encoding="utf-8")
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("gvClient.loaded === true", timeout=60_000)
    return ctx, page, errors
