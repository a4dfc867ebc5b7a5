"""The door to the page's state: every setting and private key declared in registry.py is read and written here
(get / put / drop, widgets, the URL). Only this module touches st.session_state.

A setting's value lives in st.session_state[key], which no widget owns: widgets are keyed "w.<key>.<lang>" and
copy their value back when it changes. So a value survives while its widget is not drawn (its tab is closed),
code may set it at any time (a preset key, a lesson button), and the address bar carries every setting of the
view whichever tab is open. URL sync, the share link and restoring a link all read SETTINGS.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence

import streamlit as st

from gru_viz.ui.registry import (  # the declarations, named here too for the page's modules
    CAPS,
    LESSONS,
    MAX_PROBE_INPUT,
    MAX_UNITS_TEXT,
    MAX_URL_VALUE,
    PRESET_KEYS,
    PRIVATE,
    SETTINGS,
    Private,
    Setting,
    options,
    widget_prefix,
)

__all__ = ["CAPS", "LESSONS", "MAX_PROBE_INPUT", "MAX_UNITS_TEXT", "MAX_URL_VALUE", "PRESET_KEYS", "PRIVATE",
           "SETTINGS", "Private", "Setting", "component_value", "drop", "get", "init", "labelled_widget", "options",
           "put", "settle", "share_link", "sync_url", "url_params", "widget", "widget_prefix"]

def parse_url_value(key: str, values: list[str]) -> object:
    """A setting from the link's values for `key`; ValueError when refused. A value longer than any setting needs
    is refused before its parser sees it, so a link's size bounds the work whatever the parser does."""
    text = "-".join(values) if key == "f_steps" and len(values) == 2 else values[0]
    if len(text) > MAX_URL_VALUE:
        raise ValueError(f"{key}: {len(text):,} characters, more than the {MAX_URL_VALUE:,} a link may carry")
    return SETTINGS[key].parse(text)


def init(choices: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Defaults for every setting; on a session's first run, the values of the link that opened it.

    `choices`: the allowed values of settings the page declares above this layer (the tabs' keys for "tab").
    Returns the URL parameters that were refused (the page says so); unknown parameters are dropped.
    """
    choices = choices or {}
    ss = st.session_state
    refused = []
    if not ss.get("_url_restored"):
        ss["_url_restored"] = True
        for key, s in SETTINGS.items():
            raw = st.query_params.get_all(key) if s.url else []
            if not raw:
                continue
            try:
                value = parse_url_value(key, raw)
                if key in choices and value not in choices[key]:
                    raise ValueError(f"{value!r} is not one of {', '.join(choices[key])}")
                ss[key] = value
            except ValueError:
                refused.append(key)
    for key, s in SETTINGS.items():
        ss.setdefault(key, s.default)
    return refused


def _declared(key: str) -> Setting | Private:
    found = SETTINGS.get(key) or PRIVATE.get(key)
    if found is None:
        raise KeyError(f"{key!r} is neither a setting nor a private key of the page (declare it in page_state)")
    return found


def get(key: str) -> object:
    """A setting's or private key's value (its default when unset; a private container is made and kept)."""
    spec, ss = _declared(key), st.session_state
    if key not in ss and isinstance(spec, Private) and spec.factory is not None:
        ss[key] = spec.factory()
    return ss.get(key, spec.default)


def component_value(key: str) -> object:
    """A custom component's own value, where Streamlit keeps it under the component's key (read only: the
    component writes it)."""
    return st.session_state.get(key)


def session_handle() -> tuple[str, object]:
    """(this session's id, its state object), for clearing the state once the session is gone for good
    (ui.gone_sessions, from the watchdog thread); ("", None) outside a page run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return (ctx.session_id, ctx.session_state) if ctx is not None else ("", None)


def put(key: str, value: object) -> None:
    """Set a declared key (a KeyError for any other: every write goes through the registry)."""
    _declared(key)
    st.session_state[key] = value


def drop(key: str) -> None:
    """A declared key back to its default."""
    _declared(key)
    st.session_state.pop(key, None)


def settle(key: str, allowed: Sequence | None = None, lo: float | None = None, hi: float | None = None) -> object:
    """Bring a setting within what its widget can show now (the options there are, the probe's length):
    a bad link or a value set for a longer probe becomes the nearest allowed value instead of an error."""
    ss = st.session_state
    value = ss.get(key, SETTINGS[key].default)
    if allowed is not None and value not in allowed:
        default = SETTINGS[key].default
        value = default if default in allowed else allowed[0]
    if lo is not None and value is not None:
        if isinstance(value, tuple):
            value = tuple(min(max(v, lo), hi) for v in value)
        else:
            value = type(value)(min(max(value, lo), hi))
    ss[key] = value
    return value


def widget(fn: Callable, label: str, key: str, *args: object, lang: str = "en", shown: object = None,
           labels: Iterable[str] = (), **kwargs: object) -> object:
    """Draw `fn` (st.slider, st.radio, … or a column's) for setting `key`; returns the setting's value.

    `shown` is what the widget displays while the setting is None (its derived default). The widget's own key
    carries the language: labels that change language make a new widget, started from the stored value.
    `labels`, a selectbox's or radio's option labels where they change (a run's latest epoch, units ranked by a
    quantity), do the same: the browser sends a selection back as its label, so under one key a relabelled
    selectbox kept showing the old label, or fell back to its first option.
    """
    ss, spec = st.session_state, SETTINGS[key]
    digest = hashlib.blake2s("\n".join(labels).encode(), digest_size=4).hexdigest() if labels else ""
    wkey = f"{widget_prefix(key)}{lang}" + (f".{digest}" if digest else "")
    value = ss.get(key, spec.default)
    display = shown if value is None else value
    if ss.get(wkey, _UNSET) != display:  # set by code, a link, or first drawn: the widget follows the setting
        ss[wkey] = display

    def store() -> None:
        new = ss[wkey]
        ss[key] = None if shown is not None and new == shown else new

    positional = args or _spec_args(spec)
    own = _spec_kwargs(spec, args) | kwargs
    fn(label, *positional, key=wkey, on_change=store, **(_as_default(fn, positional, own, display) | own))
    return ss[key] if ss[key] is not None else shown


def _as_default(fn: Callable, args: tuple, kwargs: Mapping[str, object], display: object) -> dict[str, object]:
    """The setting's value as the widget's own default too (value= or index=).

    The browser shows a widget's stored value only in the run that set it; a widget it mounts later (the
    projector's Settings popover is mounted when first opened) starts from its default, and sends that back. With
    Streamlit's defaults (a number's minimum, a choice's first option) a reload during a class, then "End the
    class", turned every training setting to its minimum (issue 30). A value the widget cannot take is left out.
    """
    name = getattr(fn, "__name__", "")
    if display is None:
        return {}
    if name in ("radio", "selectbox"):
        options = list(args[0]) if args else []
        return {"index": options.index(display)} if display in options else {}
    if name in ("number_input", "slider"):
        lo, hi = (args + (None, None))[:2]
        values = display if isinstance(display, tuple) else (display,)
        if lo is None or hi is None or not all(isinstance(v, (int, float)) and lo <= v <= hi for v in values):
            return {}
        kind = float if isinstance(lo, float) or isinstance(hi, float) else int  # Streamlit refuses mixed types
        return {"value": tuple(kind(v) for v in values) if isinstance(display, tuple) else kind(display)}
    if name in ("text_area", "text_input"):
        limit = kwargs.get("max_chars")
        fits = isinstance(display, str) and (limit is None or len(display) <= int(limit))  # type: ignore[arg-type]
        return {"value": display} if fits else {}
    if name in ("toggle", "checkbox"):
        return {"value": bool(display)}
    return {}


def _spec_args(spec: Setting) -> tuple:
    """A choice's options or a number's bounds, positional as st.radio/selectbox and st.slider/number_input take
    them (the caller passes its own where they depend on the data: the devices present, the probe's steps)."""
    if spec.options is not None:
        return (spec.options,)
    if spec.lo is not None:
        return (spec.lo, spec.hi)
    return ()


def _spec_kwargs(spec: Setting, args: tuple) -> dict[str, object]:
    out: dict[str, object] = {"step": spec.step} if spec.step is not None and not args else {}
    return out | ({"max_chars": spec.max_chars} if spec.max_chars is not None else {})


def labelled_widget(fn: Callable, key: str, labels: dict[str, str], lang: str = "en", **kwargs: object) -> object:
    """Draw `fn` (st.tabs) whose value is a label, for setting `key` which holds the label's key (the open tab).
    The setting's own value decides what is shown: a link, another language or code (a lesson) move the widget."""
    ss = st.session_state
    current = ss.get(key, SETTINGS[key].default)
    wkey = f"{widget_prefix(key)}{lang}"
    if ss.get(wkey) != labels[current]:  # first run, a link, another language, or set by code (a lesson)
        ss[wkey] = labels[current]
    by_label = {v: k for k, v in labels.items()}

    def store() -> None:
        ss[key] = by_label.get(ss[wkey], SETTINGS[key].default)

    return fn(list(labels.values()), key=wkey, on_change=store, **kwargs)


_UNSET = object()


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "-".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def url_params() -> dict[str, str]:
    """The settings the URL carries: every URL setting whose value is not its default (links stay short)."""
    ss = st.session_state
    out = {}
    for key, s in SETTINGS.items():
        value = ss.get(key, s.default)
        if s.url and value is not None and value != s.default:
            out[key] = _encode(value)
    return out


def sync_url() -> None:
    """Write every setting of the view to the address bar (once per run, at the end of the page)."""
    params = url_params()
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def share_link() -> str:
    """The page's address with every setting of the view."""
    query = urllib.parse.urlencode(url_params())
    base = (st.context.url or "").split("?")[0]
    return base + (f"?{query}" if query else "")
