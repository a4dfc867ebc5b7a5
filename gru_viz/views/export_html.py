""""Download this view": one self-contained HTML file of the scrubber that scrubs when opened from disk, with no
server and no network (plotly.js inlined from the installed plotly package, the trace as JSON)."""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

SCRUBBER_DIR = Path(__file__).resolve().parents[1] / "ui" / "scrubber"
# Latin fonts before the CJK one: where none of the first four is installed, a CJK font drew “ and ” a full em
# wide, as extra spaces around every quote (Chinese characters still fall through to the CJK font).
PAGE_CSS = """
body { margin: 1.2rem 2rem; font-family: "Source Sans Pro", "Source Sans 3", "Segoe UI", Roboto, "Noto Sans",
  "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", "Noto Sans CJK SC", sans-serif; color: #31333f;
  background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 0.2rem; }
.gsc-page-sub { color: #666; margin: 0 0 0.8rem; }
"""


def plotly_file() -> Path:
    """plotly.min.js as the installed plotly package ships it (a dependency, never copied into the repository)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


# The scrubber's parts, loaded in this order as one script: its helpers, the cell and the attribution bars
# (functions scrubber.js calls), the Scrubber class and its mount, then its methods by part.
SOURCES = ("scrub_util.js", "cell.js", "attribution.js", "scrubber.js", "scrub_charts.js", "scrub_tape.js",
           "scrub_equation.js", "scrub_controls.js", "scrub_lazy.js")
# The model worker: the engine, the jobs and the worker with the page's client (tests load these alone).
MODEL_SOURCES = ("model_engine.js", "model_jobs.js", "model_worker.js")


def scrubber_js() -> str:
    """The scrubber's code as the component (and the exported page) runs it: SOURCES joined, one ES module."""
    return "\n".join((SCRUBBER_DIR / name).read_text(encoding="utf-8") for name in SOURCES)


# ②'s panel: the model worker, the panel and its controls, and what draws the scrubber's views of its trace.
FORCE_SOURCES = (*MODEL_SOURCES, "force.js", "force_controls.js", "live_scrub.js")


def module_js(entry: str) -> str:
    """A component's ES module: the model worker, the ② panel and the scrubber's sources, default-exporting
    `entry` (the scrubber's own module exports `scrubber`; here it is a plain function among the others)."""
    js = "\n".join((SCRUBBER_DIR / name).read_text(encoding="utf-8") for name in FORCE_SOURCES)
    body = scrubber_js().replace("export default function scrubber(", "function scrubber(", 1)
    return f"{js}\n{body}\nexport default {entry};\n"


def _inline_script(code: str) -> str:
    """Code that can sit inside <script>…</script>: '</script' in a string or regex would end the element early
    ('<\\/' means the same to JavaScript)."""
    return code.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def scrubber_html(data: dict, title: str, subtitle: str = "", lang: str = "en", force: dict | None = None) -> str:
    """The page: `data` is what the app gives the scrubber component ({"payload", "ui", "goto"}); its "ui" may
    leave out "plotly" (plotly.js is inlined here). `force`: what ②'s panel gets (live_force.force_data, with
    the model's weights), so typed text and the gates work offline too."""
    js = scrubber_js()
    if "export default function scrubber(" not in js:
        raise RuntimeError("scrubber.js no longer starts with `export default function scrubber(`")
    js = js.replace("export default function scrubber(", "function scrubber(", 1)
    css = (SCRUBBER_DIR / "scrubber.css").read_text(encoding="utf-8")
    force_mount = ""
    if force is not None:
        js = "\n".join((SCRUBBER_DIR / n).read_text(encoding="utf-8") for n in FORCE_SOURCES) + "\n" + js
        css += (SCRUBBER_DIR / "force.css").read_text(encoding="utf-8")
        fblob = json.dumps({**force, "plotly": {}}, ensure_ascii=False).replace("<", "\\u003c")
        force_mount = (f'<div id="gfc-mount"></div>\n<script type="application/json" id="gfc-data">{fblob}</script>\n')
    ui = {**data["ui"], "plotly": {}}
    # JSON inside a script element: escaping "<" keeps any text of the probe from closing it
    blob = json.dumps({**data, "ui": ui}, ensure_ascii=False).replace("<", "\\u003c")
    mount = ('const data = JSON.parse(document.getElementById("gsc-data").textContent);\n'
             'scrubber({data, parentElement: document.getElementById("gsc-mount"), setStateValue: () => {}});')
    if force is not None:
        mount += ('\ngvForceMount({data: JSON.parse(document.getElementById("gfc-data").textContent), '
                  'parentElement: document.getElementById("gfc-mount"), setStateValue: () => {}});')
    return (
        f'<!doctype html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{html.escape(title)}</title>\n'
        f"<style>{PAGE_CSS}{css}</style>\n"
        f"<script>{_inline_script(plotly_file().read_text(encoding='utf-8'))}</script>\n"
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f'<p class="gsc-page-sub">{html.escape(subtitle)}</p>\n{force_mount}<div id="gsc-mount"></div>\n'
        f'<script type="application/json" id="gsc-data">{blob}</script>\n'
        f"<script>\n{_inline_script(js)}\n{mount}\n</script>\n</body>\n</html>\n"
    )
