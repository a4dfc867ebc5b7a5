"""How the page looks and travels: language, projector mode, the share link and the downloads."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import urllib.parse
from dataclasses import dataclass

import numpy as np
import streamlit as st

from gru_viz.checkpoint import checkpoint_bytes
from gru_viz.data import Vocab
from gru_viz.figures import AXES
from gru_viz.inference import TextTrace
from gru_viz.model import PRESETS, GRUScratch
from gru_viz.ui.strings import LANGUAGE_LABEL, LANGUAGE_NAMES, tr

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


@dataclass(frozen=True)
class View:
    """Presentation settings every tab reads."""

    lang: str = "en"
    projector: bool = False

    @property
    def font(self) -> int:
        return 20 if self.projector else 13

    def height(self, base: int) -> int:
        return int(base * 1.25) if self.projector else base

    def t(self, key: str, **fmt: object) -> str:
        return tr(key, self.lang, **fmt)

    @property
    def axes(self) -> dict[str, str]:
        """Axis words for the figure builders, in this language."""
        return {k: self.t(f"ax_{k.replace(' ', '_')}") for k in AXES}


def header_controls() -> View:
    """The title row, with the language and projector switches at the right; both live in the URL."""
    ss = st.session_state
    restore_from_url()
    cols = st.columns([5.5, 1.4, 1.9], vertical_alignment="bottom")
    lang = cols[1].selectbox(LANGUAGE_LABEL, url_choice("lang", list(LANGUAGE_NAMES)), format_func=LANGUAGE_NAMES.get,
                             key="lang")
    cols[2].toggle(tr("projector", lang), key="proj", help=tr("projector_help", lang), bind="query-params")
    view = View(lang=lang, projector=bool(ss.get("proj")))
    cols[0].title(view.t("title"))
    if view.projector:
        st.markdown(PROJECTOR_CSS, unsafe_allow_html=True)
    return view


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~$:])")


def md_escape(text: str) -> str:
    """User text (file names, pasted text) shown through Markdown: every Markdown and HTML character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


TABS = ("scrub", "force", "train", "gates")

# Choice widgets whose labels are translated keep their *option keys* in the URL (?preset=plain_rnn&lang=zh).
# Streamlit's own bind="query-params" stores the translated label, which breaks when the language changes, so
# these are synced by hand; plain values (numbers, text, toggles) use bind="query-params".
URL_CHOICES = {"lang": "en", "tab": "scrub", "preset": "free", "inspect": "pre:500", "units_mode": "active",
               "corpus_source": "tm", "sampling": "sequential", "engine": "fast", "g_quantity": "H"}


# The options of choices whose widget may not be drawn on the first run (it sits in a tab that is not open), so
# a bad link is dropped at once; the others are checked by url_choice when their widget is drawn.
URL_OPTIONS = {"tab": TABS, "preset": (*PRESETS, "custom"), "units_mode": ("active", "all", "first"),
               "g_quantity": ("H", "Z", "R")}


def restore_from_url() -> None:
    """Once per session: choice values from the link that opened the page (checked later by url_choice)."""
    ss = st.session_state
    if ss.get("_url_restored"):
        return
    ss["_url_restored"] = True
    for key in URL_CHOICES:
        value = st.query_params.get(key)
        if value is not None and key not in ss and value in URL_OPTIONS.get(key, (value,)):
            ss[key] = value


def url_choice(key: str, options: list) -> list:
    """The options of a choice widget; a session value that is not among them (a bad link) is dropped."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    return options


def choice(widget, label: str, options: list, key: str, view: View, labels, **kwargs):
    """A radio or selectbox whose value lives in st.session_state[key] (an option key, not a label).

    The widget itself is keyed per language: when the labels change language the browser gets a new widget,
    initialised from the stored value (a widget keeping its key while its labels change shows nothing selected).
    """
    ss = st.session_state
    options = url_choice(key, options)
    default = URL_CHOICES.get(key)
    current = ss.get(key, default if default in options else options[0])
    wkey = f"w_{key}_{view.lang}"
    if ss.get(wkey, current) != current:  # set elsewhere (a preset key, a lesson button): follow it
        ss[wkey] = current

    def _store() -> None:
        ss[key] = ss[wkey]

    value = widget(label, options, index=options.index(current), format_func=labels, key=wkey, on_change=_store,
                   **kwargs)
    ss[key] = value
    return value


def page_tabs(view: View) -> tuple[str, list]:
    """The four tabs and which one is open; only the open one should be drawn.

    Switching tabs reruns the page, so every rerun computes and sends one tab instead of four: with a class on
    one small server that is most of the work a click costs. Like `choice`, the open tab is kept as a key
    (st.session_state["tab"], and ?tab= in the URL) and the widget is keyed per language.
    """
    ss = st.session_state
    labels = {k: view.t(f"tab_{k}") for k in TABS}
    current = ss.get("tab") if ss.get("tab") in TABS else "scrub"
    wkey = f"w_tab_{view.lang}"
    if ss.get(wkey) != labels[current]:  # first run, a link, another language, or set by code (a lesson)
        ss[wkey] = labels[current]

    def _store() -> None:
        ss["tab"] = {v: k for k, v in labels.items()}.get(ss[wkey], "scrub")

    boxes = st.tabs(list(labels.values()), key=wkey, on_change=_store)
    ss["tab"] = current
    return current, list(boxes)


@contextlib.contextmanager
def kept_values(open_tab: str, owner: str, keys: tuple[str, ...]):
    """Draw the open tab; the widgets `keys` of tab `owner` keep their values while another tab is open.

    Streamlit forgets a widget's value once it is not drawn (choices and URL-bound widgets are kept by other
    means); streamlit 1.59-1.66 also drops persist_state values when the widget comes back. So a copy is kept
    and put back when `owner` opens again.
    """
    ss = st.session_state
    store = ss.setdefault("_kept", {})
    if open_tab == owner and ss.get("_drawn_tab") != owner:
        for key in keys:
            if key in store:
                ss[key] = store[key]
    else:  # the latest values, including an edit sent along with the click that opens another tab
        store.update({key: ss[key] for key in keys if key in ss})
    try:
        yield
    finally:
        if open_tab == owner:
            store.update({key: ss[key] for key in keys if key in ss})
        ss["_drawn_tab"] = open_tab


def _url_choices() -> dict[str, str | None]:
    """Each choice's option key as the URL should carry it; None where it is unset or the default (links stay
    short)."""
    ss = st.session_state
    return {key: None if ss.get(key) in (None, default) else str(ss[key]) for key, default in URL_CHOICES.items()}


def sync_url() -> None:
    """Write the choice widgets' option keys to the URL."""
    for key, value in _url_choices().items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


@contextlib.contextmanager
def error_boundary(view: View, where: str):
    """Whatever fails inside shows a readable message and the rest of the page keeps working (no traceback)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 (Streamlit's rerun/stop signals are BaseExceptions and pass through)
        log.exception("error in %s", where)
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        st.error(view.t("errors_generic", message=message))


# Widgets bound to the URL that live in a tab. Streamlit drops a bound widget's parameter from the URL while the
# widget is not drawn (its tab is closed), so the share link adds them back from session state. The default of
# each (a value the link may leave out); None: recorded by the tab that draws the widget (see url_default).
TAB_BOUND = {"step": 0, "unit": 0, "probe": None, "fr_on": False, "fr_val": 1.0, "fz_on": False, "fz_val": 0.0,
             "f_units": "", "f_steps_on": False, "f_steps": None, "g_target": None}


def url_default(key: str, value: object) -> None:
    """Record the default of a URL-bound widget whose default depends on the data (the probe, the gradient target)."""
    st.session_state.setdefault("_url_defaults", {})[key] = value


def _url_value(value: object) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return [str(v) for v in value]
    return str(value)


def share_link() -> str:
    """The page's address with every setting of the view, including those of tabs that are not open."""
    ss = st.session_state
    params: dict[str, object] = dict(st.query_params.to_dict())
    for key, value in _url_choices().items():  # as sync_url writes them (it runs at the end of the page)
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    defaults = {**TAB_BOUND, **ss.get("_url_defaults", {})}
    for key in TAB_BOUND:
        if key not in params and key in ss and ss[key] is not None and ss[key] != defaults.get(key):
            params[key] = ss[key]
    query = urllib.parse.urlencode({k: _url_value(v) for k, v in params.items()}, doseq=True)
    base = (st.context.url or "").split("?")[0]
    return base + (f"?{query}" if query else "")


def share_box(view: View) -> None:
    """The link to this view, with st.code's copy button. The scrubber draws it inside its fragment, so the link
    follows every step; the other tabs draw it at the end of the page."""
    with st.expander(view.t("share")):
        st.caption(view.t("share_help"))
        st.code(share_link() or "?", language=None, wrap_lines=True)


def trace_csv(trace: TextTrace) -> bytes:
    """One row per (step, unit): the character, R, Z, H̃, H and H_{t−1}; tidy for spreadsheets and pandas."""
    steps, hidden = trace.H.shape
    out = io.StringIO()
    out.write("step,char,unit,R,Z,H_tilde,H,H_prev\n")
    for t in range(steps):
        ch = trace.text[t].replace('"', '""')
        for u in range(hidden):
            out.write(f'{t},"{ch}",{u},{trace.R[t, u]:.6g},{trace.Z[t, u]:.6g},{trace.H_tilde[t, u]:.6g},'
                      f"{trace.H[t, u]:.6g},{trace.H_prev[t, u]:.6g}\n")
    return out.getvalue().encode("utf-8")


def trace_npz(trace: TextTrace) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **trace.arrays(), H_prev=trace.H_prev, text=np.array(trace.text))
    return buf.getvalue()


def downloads(view: View, model: GRUScratch, vocab: Vocab, trace: TextTrace, name: str) -> None:
    with st.expander(view.t("exports")):
        c = st.columns(3)
        c[0].download_button(view.t("dl_ckpt"), data=lambda: checkpoint_bytes(model, vocab, {"source": name}),
                             file_name=f"{name}.safetensors", mime="application/octet-stream", key="dl_ckpt",
                             on_click="ignore")
        c[1].download_button(view.t("dl_csv"), data=lambda: trace_csv(trace), file_name=f"{name}_trace.csv",
                             mime="text/csv", key="dl_csv", on_click="ignore")
        c[2].download_button(view.t("dl_npz"), data=lambda: trace_npz(trace), file_name=f"{name}_trace.npz",
                             mime="application/octet-stream", key="dl_npz", on_click="ignore")
        st.caption(view.t("dl_figures"))
