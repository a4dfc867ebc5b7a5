"""The in-browser scrubber as a Streamlit custom component (v2): a trace payload in, the settled step and unit out.

See docs/SCRUBBER.md for why it is built this way. scrubber.js and scrubber.css are plain source (no build step).
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from gru_viz.views.export_html import plotly_file, scrubber_js

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
JS = scrubber_js()
CSS = (HERE / "scrubber.css").read_text(encoding="utf-8")
NAME = "gru_viz.scrubber"
KEY = "scrubber"

# No shadow root: plotly.js styles its hover labels and mode bar from the document head.
_ISOLATE_AT_DEFINITION = "isolate_styles" in inspect.signature(st.components.v2.component).parameters


@functools.cache
def _component():
    """Registered at the first use, inside a script run (at import time Streamlit warns of a missing context)."""
    extra = {"isolate_styles": False} if _ISOLATE_AT_DEFINITION else {}
    return st.components.v2.component(NAME, css=CSS, js=JS, **extra)


def _static_dir() -> Path:
    """The folder Streamlit serves at app/static/ with server.enableStaticServing: "static" beside the main
    script (streamlit_app.py at the repository's root)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    main = Path(ctx.main_script_path) if ctx is not None and ctx.main_script_path else HERE.parents[2] / "app.py"
    return main.resolve().parent / "static"


@st.cache_resource(show_spinner=False)
def plotly_source() -> dict[str, str]:
    """Where the browser gets plotly.js: {"url": …} of a copy in the app's static folder (made once per server,
    gitignored), or {"src": the code itself} where the folder cannot be written or static serving is off."""
    source = plotly_file()
    static = _static_dir()
    try:
        if not st.get_option("server.enableStaticServing"):
            raise OSError("server.enableStaticServing is off")
        # the installed package's version, read without importing Plotly (only the figure builders import it)
        name = f"plotly-{importlib.metadata.version('plotly')}.min.js"
        target = static / name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            static.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=static, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(source.read_bytes())
            os.replace(tmp, target)  # atomic: a visitor never loads half a file
        return {"url": f"app/static/{name}"}
    except OSError as exc:
        log.warning("serving plotly.js inline (%s)", exc)
        return {"src": source.read_text(encoding="utf-8")}


def scrubber(data: dict, on_view: Callable[[], None], key: str = KEY):
    """Mount the scrubber. `data` = {"payload", "ui", "goto"} (see tabs/scrub.scrubber_data); `on_view` runs when
    the browser reports a settled {"step", "unit"}, read from st.session_state[key]["view"]."""
    extra = {} if _ISOLATE_AT_DEFINITION else {"isolate_styles": False}
    return _component()(key=key, data=data, on_view_change=on_view, height="content", **extra)


def reported_view(key: str = KEY) -> tuple[int, int] | None:
    """(step, unit) as the browser last reported them, or None; the browser's values are checked, never trusted."""
    state = st.session_state.get(key)
    view = state.get("view") if hasattr(state, "get") else None
    if not isinstance(view, dict):
        return None
    step, unit = view.get("step"), view.get("unit")
    if type(step) is not int or type(unit) is not int:
        return None
    return step, unit
