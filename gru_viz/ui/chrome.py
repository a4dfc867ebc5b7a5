"""The page's frame: the title row with language and projector switches, the tabs, the error boundary, the
share box."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import streamlit as st

from gru_viz.ui import page_state as ps
from gru_viz.ui.strings import LANGUAGE_LABEL, LANGUAGE_NAMES, translate
from gru_viz.ui.view import View, md_escape

log = logging.getLogger(__name__)

# Projector mode: everything readable from the back row of a classroom (nothing under 18 px on a 1280×720
# projector: the base is 22 px and the smallest text, captions, 0.85 rem), the charts on the first screen (no
# header bar, a compact title row, tabs close under it), headline numbers large, labels that wrap instead of
# being cut. The sidebar's settings move into a "Settings" button of the title row.
PROJECTOR_CSS = """
<style>
html, .stApp { font-size: 22px !important; }
.stApp { color: #000 !important; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stToolbar"],
[data-testid="stHeader"] { display: none !important; }
.block-container { padding: 0.6rem 1.2rem 1rem 1.2rem !important; max-width: 100% !important; }
h1 { font-size: 1.2rem !important; padding: 0 !important; margin: 0 !important; line-height: 1.3 !important; }
[data-testid="stMarkdownContainer"] p, label, button p, [data-testid="stWidgetLabel"] p { font-size: 1rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 0.85rem !important; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
  font-size: 2.2rem !important; line-height: 1.2 !important; }
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p { font-size: 0.9rem !important; }
button p { white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stTab"] p { font-size: 0.95rem !important; }
[data-testid="stTabs"] [role="tablist"] { margin-top: -0.4rem; }
.katex-display { overflow-x: auto; overflow-y: hidden; }
</style>
"""


# Always: headings wrap into balanced lines (a Chinese title left one character alone on its last line); a
# button's label wraps instead of ending in "…" where its column is narrow (a tablet with the sidebar open); there
# the title is smaller too (the Chinese one took four lines of its narrowed column).
PAGE_CSS = ("<style>h1, h2, h3, h4 { text-wrap: balance; }\n"
            "button p { white-space: normal !important; overflow: visible !important; "
            "text-overflow: clip !important; }\n"
            "@media (max-width: 1100px) { [data-testid='stMain'] h1 { font-size: 2rem; } }</style>")


def header_controls() -> tuple[View, object | None, object]:
    """The title row, with the language and projector switches at the right. Returns the view, where the model
    chooser goes (None: its usual place below) and where the training settings go (the sidebar; in projector
    mode a Settings button in this row, so the charts start higher on the screen and the settings stay one click
    away)."""
    projector = bool(ps.get("proj"))
    # the language box and the switch need about 130 and 180 px: on a tablet with the sidebar open (564 px of
    # page) [4.6, 1.5, 2.3] cut both ("Englis", "Projector m…")
    widths = [2.0, 3.1, 1.6, 1.5, 2.5] if projector else [3.6, 1.9, 2.6]
    cols = st.columns(widths, vertical_alignment="bottom")
    title, chooser = cols[0], (cols[1] if projector else None)
    lang = ps.widget(cols[-2].selectbox, LANGUAGE_LABEL, "lang", lang="any",
                     format_func=LANGUAGE_NAMES.get, label_visibility="collapsed" if projector else "visible")
    proj = ps.widget(cols[-1].toggle, translate("projector", lang), "proj", lang=lang,
                     help=translate("projector_help", lang))
    view = View(lang=str(lang), projector=bool(proj))
    title.title(view.t("title_short" if view.projector else "title"))
    st.markdown(PAGE_CSS + (PROJECTOR_CSS if view.projector else ""), unsafe_allow_html=True)
    # keyed and stateful, so code can close it (class_panel closes it when a class starts); opening it reruns
    settings = cols[2].popover(view.t("settings_short"), icon=":material/tune:", width="stretch",
                               key="_settings_open", on_change="rerun") if projector else st.sidebar
    return view, chooser, settings


def page_tabs(view: View, keys: Sequence[str]) -> tuple[str, list]:
    """The tabs (`keys`, in order) and which one is open; only the open one should be drawn.

    Switching tabs reruns the page, so every rerun computes and sends one tab instead of four: with a class on
    one small server that is most of the work a click costs. The widget's value is the label; the setting "tab"
    keeps the tab's key.
    """
    labels = {k: view.t(f"tab_{k}") for k in keys}
    current = ps.settle("tab", keys)
    boxes = ps.labelled_widget(st.tabs, "tab", labels, lang=view.lang)
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
