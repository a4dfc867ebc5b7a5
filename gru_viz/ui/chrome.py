"""The page's frame: the title row with language and projector switches, the tabs, the error boundary, the
share box."""

from __future__ import annotations

import contextlib
import logging

import streamlit as st

from gru_viz.ui import page_state as ps
from gru_viz.ui.page_state import TABS
from gru_viz.ui.strings import LANGUAGE_LABEL, LANGUAGE_NAMES, translate
from gru_viz.ui.view import View, md_escape

log = logging.getLogger(__name__)

PROJECTOR_CSS = """
<style>
html, .stApp { font-size: 22px !important; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stCaptionContainer"],
[data-testid="stTooltipIcon"], [data-testid="stToolbar"] { display: none !important; }
.stApp { color: #000 !important; }
[data-testid="stMarkdownContainer"] p, label, button p { font-size: 1rem !important; }
[data-testid="stHeader"] { display: none !important; }
.block-container { padding-top: 1.2rem !important; max-width: 100% !important; }
h1 { font-size: 1.5rem !important; padding: 0 !important; }
</style>
"""


def header_controls() -> View:
    """The title row, with the language and projector switches at the right."""
    cols = st.columns([5.5, 1.4, 1.9], vertical_alignment="bottom")
    lang = ps.widget(cols[1].selectbox, LANGUAGE_LABEL, "lang", list(LANGUAGE_NAMES), lang="any",
                     format_func=LANGUAGE_NAMES.get)
    proj = ps.widget(cols[2].toggle, translate("projector", lang), "proj", lang=lang,
                     help=translate("projector_help", lang))
    view = View(lang=str(lang), projector=bool(proj))
    cols[0].title(view.t("title"))
    if view.projector:
        st.markdown(PROJECTOR_CSS, unsafe_allow_html=True)
    return view


def page_tabs(view: View) -> tuple[str, list]:
    """The four tabs and which one is open; only the open one should be drawn.

    Switching tabs reruns the page, so every rerun computes and sends one tab instead of four: with a class on
    one small server that is most of the work a click costs. The widget's value is the label; the setting "tab"
    keeps the tab's key.
    """
    ss = st.session_state
    labels = {k: view.t(f"tab_{k}") for k in TABS}
    current = ps.settle("tab", TABS)
    wkey = f"w.tab.{view.lang}"
    if ss.get(wkey) != labels[current]:  # first run, a link, another language, or set by code (a lesson)
        ss[wkey] = labels[current]

    def store() -> None:
        ss["tab"] = {v: k for k, v in labels.items()}.get(ss[wkey], "scrub")

    boxes = st.tabs(list(labels.values()), key=wkey, on_change=store)
    return str(current), list(boxes)


@contextlib.contextmanager
def error_boundary(view: View, where: str):
    """Whatever fails inside shows a readable message and the rest of the page keeps working (no traceback)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 (Streamlit's rerun/stop signals are BaseExceptions and pass through)
        log.exception("error in %s", where)
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        st.error(view.t("errors_generic", message=md_escape(message)))


def refused_link_settings(view: View, keys: list[str]) -> None:
    """Say which of the link's settings were not understood (declared keys only, never the link's text)."""
    for key in keys:
        st.caption(view.t("bad_query", name=key))


def share_box(view: View) -> None:
    """The link to this view (the address bar carries the same), with st.code's copy button."""
    with st.expander(view.t("share")):
        st.caption(view.t("share_help"))
        st.code(ps.share_link() or "?", language=None, wrap_lines=True)
