"""Every setting of the page, declared once: its key, default, allowed values and whether the URL carries it.

A setting's value lives in st.session_state[key], which no widget owns: widgets are keyed "w.<key>.<lang>" and
copy their value back when it changes. So a value survives while its widget is not drawn (its tab is closed),
code may set it at any time (a preset key, a lesson button), and the address bar carries every setting of the
view whichever tab is open. URL sync, the share link and restoring a link all read SETTINGS.
"""

from __future__ import annotations

import hashlib
import math
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import streamlit as st

from gru_viz.classroom import normalize_code
from gru_viz.data import MAX_VOCAB, TOKENISATIONS
from gru_viz.model import PRESETS
from gru_viz.train import TrainConfig

TABS = ("scrub", "force", "train", "gates")
PRESET_KEYS = (*PRESETS, "custom")
LESSONS = ("l1", "l2", "l3", "l4")
# Per-visitor caps: a public server shares 2 cores and 2.7 GB between everyone.
CAPS = {"hidden": 512, "epochs": 1000, "batch_size": 256, "num_steps": 200, "max_tokens": 200_000}
MAX_PROBE_INPUT = 5_000  # characters typed into the probe box (the scrubber uses the first 500)
MAX_UNITS_TEXT = 200


@dataclass(frozen=True)
class Setting:
    """One setting: `default` None means "derived from the data" (the probe text, the gradient target)."""

    key: str
    default: object
    parse: Callable[[str], object]  # the URL's text -> a value; raises ValueError for a value it refuses
    url: bool = True


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"{value} is outside {lo}-{hi}")
        return value
    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"{text} is outside {lo:g}-{hi:g}")
        return value
    return parse


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return text.lower() == "true"


def _choice(options: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return text
    return parse


def _text(limit: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"longer than {limit} characters")
        return text
    return parse


def _class_code(text: str) -> str:
    if not text.strip():
        return ""  # no class
    code = normalize_code(text)
    if code is None:
        raise ValueError(f"{text!r} is not a class code")
    return code


def _range(text: str) -> tuple[int, int]:
    """'21-60' (inclusive, as the slider shows it)."""
    lo, sep, hi = text.partition("-")
    a, b = int(lo), int(hi) if sep else int(lo)
    if not 0 <= a <= b <= 100_000:
        raise ValueError(f"{text!r} is not a step range like 5-20")
    return a, b


_D = TrainConfig()
SETTINGS: dict[str, Setting] = {s.key: s for s in (
    # the page
    Setting("lang", "en", _choice(("en", "zh"))),
    Setting("proj", False, _bool),
    Setting("class", "", _class_code),  # a join link ?class=CODE (class_panel checks what is typed)
    Setting("tab", "scrub", _choice(TABS)),
    Setting("inspect", "pre:500", _text(100)),  # checked against the models there are when the chooser is drawn
    # the sidebar's training settings (d2l's defaults)
    Setting("corpus_source", "tm", _choice(("tm", "offline", "upload", "paste"))),
    Setting("tokens", "d2l", _choice(TOKENISATIONS)),  # d2l's letters and spaces, or every character
    Setting("max_vocab", None, _int(2, MAX_VOCAB)),  # raw characters; None: those covering 99.5 % of the text
    Setting("max_tokens", _D.max_tokens, _int(100, CAPS["max_tokens"])),
    Setting("hidden", _D.hidden, _int(1, CAPS["hidden"])),
    Setting("epochs", _D.epochs, _int(1, CAPS["epochs"])),
    Setting("lr", _D.lr, _float(0.001, 100.0)),
    Setting("clip", _D.clip, _float(0.01, 100.0)),
    Setting("batch_size", _D.batch_size, _int(1, CAPS["batch_size"])),
    Setting("num_steps", _D.num_steps, _int(1, CAPS["num_steps"])),
    Setting("seed", _D.seed, _int(0, 2**31 - 1)),
    Setting("device", "auto", _choice(("auto", "cpu", "cuda", "mps"))),
    Setting("sampling", "sequential", _choice(("sequential", "random"))),
    Setting("engine", "fast", _choice(("fast", "textbook"))),
    Setting("paste_text", "", _text(2_000_000), url=False),
    # ① the scrubber
    Setting("probe", None, _text(MAX_PROBE_INPUT)),
    Setting("units_mode", "active", _choice(("active", "all", "first"))),
    Setting("unit", None, _int(0, CAPS["hidden"] - 1)),  # None: the first unit the heatmaps show
    Setting("step", 0, _int(0, MAX_PROBE_INPUT)),
    # ② forcing
    Setting("preset", "free", _choice(PRESET_KEYS)),
    Setting("fr_on", False, _bool),
    Setting("fr_val", 1.0, _float(0.0, 1.0)),
    Setting("fz_on", False, _bool),
    Setting("fz_val", 0.0, _float(0.0, 1.0)),
    Setting("f_units", "", _text(MAX_UNITS_TEXT)),
    Setting("f_steps_on", False, _bool),
    Setting("f_steps", None, _range),
    Setting("f_strength", 1.0, _float(0.0, 1.0)),  # each forced gate: (1 − s)·free + s·forced
    # ④ why gates matter
    Setting("g_target", None, _int(1, MAX_PROBE_INPUT)),
    Setting("g_quantity", "H", _choice(("H", "Z", "R"))),
    Setting("g_unit", None, _int(0, CAPS["hidden"] - 1)),
    Setting("g_conv", "d2l", _choice(("d2l", "colah", "pytorch"))),
    Setting("race_hidden", 64, _int(8, 256)),
    Setting("race_epochs", 100, _int(5, 500)),
    # a student's predictions stay private: never in a link
    *(Setting(f"{n}_guess", "", _text(2_000), url=False) for n in LESSONS),
    *(Setting(f"{n}_reveal", False, _bool, url=False) for n in LESSONS),
)}


def init() -> list[str]:
    """Defaults for every setting; on a session's first run, the values of the link that opened it.

    Returns the URL parameters that were refused (the page says so); unknown parameters are dropped.
    """
    ss = st.session_state
    refused = []
    if not ss.get("_url_restored"):
        ss["_url_restored"] = True
        for key, s in SETTINGS.items():
            raw = st.query_params.get_all(key) if s.url else []
            if not raw:
                continue
            try:
                ss[key] = s.parse("-".join(raw) if key == "f_steps" and len(raw) == 2 else raw[0])
            except ValueError:
                refused.append(key)
    for key, s in SETTINGS.items():
        ss.setdefault(key, s.default)
    return refused


def get(key: str) -> object:
    return st.session_state.get(key, SETTINGS[key].default)


def put(key: str, value: object) -> None:
    st.session_state[key] = value


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
    ss = st.session_state
    digest = hashlib.blake2s("\n".join(labels).encode(), digest_size=4).hexdigest() if labels else ""
    wkey = f"w.{key}.{lang}" + (f".{digest}" if digest else "")
    value = ss.get(key, SETTINGS[key].default)
    display = shown if value is None else value
    if ss.get(wkey, _UNSET) != display:  # set by code, a link, or first drawn: the widget follows the setting
        ss[wkey] = display

    def store() -> None:
        new = ss[wkey]
        ss[key] = None if shown is not None and new == shown else new

    fn(label, *args, key=wkey, on_change=store, **kwargs)
    return ss[key] if ss[key] is not None else shown


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
