"""The page's registry, declared once: every setting (key, default, URL parser, and the widget's options, bounds
and step) and every private session key, with why it exists. Plain declarations, no Streamlit: page_state is the
door through which the page reads and writes them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gru_viz.data import MAX_VOCAB, TOKENISATIONS
from gru_viz.nets.model import PRESETS
from gru_viz.serve.class_terms import normalize_code
from gru_viz.train import TrainConfig
from gru_viz.ui.session_kept import SessionResults

PRESET_KEYS = (*PRESETS, "custom")
LESSONS = ("l1", "l2", "l3", "l4")
# Per-visitor caps: a public server shares 2 cores and 2.7 GB between everyone.
CAPS = {"hidden": 512, "epochs": 1000, "batch_size": 256, "num_steps": 200, "max_tokens": 200_000}
MAX_PROBE_INPUT = 5_000  # characters typed into the probe box (the scrubber uses the first 500)
MAX_UNITS_TEXT = 200
MAX_URL_VALUE = MAX_PROBE_INPUT  # the longest value a link carries (the probe); anything longer is refused unread


@dataclass(frozen=True)
class Setting:
    """One setting: `default` None means "derived from the data" (the probe text, the gradient target).

    `options` (a choice's values in the widget's order), `lo`/`hi` and `step` (a number's bounds) are the widget's
    spec too: `widget` passes them, so no widget restates them."""

    key: str
    default: object
    parse: Callable[[str], object]  # the URL's text -> a value; raises ValueError for a value it refuses
    url: bool = True
    options: tuple | None = None
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    max_chars: int | None = None  # a text's length limit, the text box's too


def _choice_setting(key: str, default: str, options: Sequence[str], url: bool = True) -> Setting:
    return Setting(key, default, _choice(options), url, options=tuple(options))


def _text_setting(key: str, default: str | None, limit: int, url: bool = True) -> Setting:
    return Setting(key, default, _text(limit), url, max_chars=limit)


def _int_setting(key: str, default: int | None, lo: int, hi: int, step: int | None = None) -> Setting:
    return Setting(key, default, _int(lo, hi), lo=lo, hi=hi, step=step)


def _float_setting(key: str, default: float, lo: float, hi: float, step: float | None = None) -> Setting:
    return Setting(key, default, _float(lo, hi), lo=lo, hi=hi, step=step)


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
    _choice_setting("lang", "en", ("en", "zh")),
    Setting("proj", False, _bool),
    Setting("class", "", _class_code),  # a join link ?class=CODE (class_panel checks what is typed)
    Setting("tab", "scrub", _text(40)),  # one of the page's tabs (gru_viz/ui/tabs.TABS), given to init()
    Setting("inspect", "pre:500", _text(100)),  # checked against the models there are when the chooser is drawn
    # the sidebar's training settings (d2l's defaults)
    _choice_setting("corpus_source", "tm", ("tm", "offline", "upload", "paste")),
    _choice_setting("tokens", "d2l", TOKENISATIONS),  # d2l's letters and spaces, or every character
    _int_setting("max_vocab", None, 2, MAX_VOCAB, step=10),  # raw characters; None: those covering 99.5 %
    _int_setting("max_tokens", _D.max_tokens, 100, CAPS["max_tokens"], step=1000),
    _int_setting("hidden", _D.hidden, 1, CAPS["hidden"]),
    _int_setting("epochs", _D.epochs, 1, CAPS["epochs"]),
    _float_setting("lr", _D.lr, 0.001, 100.0),
    _float_setting("clip", _D.clip, 0.01, 100.0),
    _int_setting("batch_size", _D.batch_size, 1, CAPS["batch_size"]),
    _int_setting("num_steps", _D.num_steps, 1, CAPS["num_steps"]),
    _int_setting("seed", _D.seed, 0, 2**31 - 1),
    _choice_setting("device", "auto", ("auto", "cpu", "cuda", "mps")),  # the widget offers those present
    _choice_setting("sampling", "sequential", ("sequential", "random")),
    _choice_setting("engine", "fast", ("fast", "textbook")),
    _text_setting("paste_text", "", 2_000_000, url=False),
    # ① the scrubber
    _text_setting("probe", None, MAX_PROBE_INPUT),
    _choice_setting("units_mode", "active", ("active", "all", "first")),
    _int_setting("unit", None, 0, CAPS["hidden"] - 1),  # None: the first unit the heatmaps show
    _int_setting("step", 0, 0, MAX_PROBE_INPUT),
    # ② forcing
    _choice_setting("preset", "free", PRESET_KEYS),
    Setting("fr_on", False, _bool),
    _float_setting("fr_val", 1.0, 0.0, 1.0, step=0.05),
    Setting("fz_on", False, _bool),
    _float_setting("fz_val", 0.0, 0.0, 1.0, step=0.05),
    _float_setting("f_strength", 1.0, 0.0, 1.0, step=0.05),  # each forced gate: (1 − s)·free + s·forced
    _text_setting("f_units", "", MAX_UNITS_TEXT),
    Setting("f_steps_on", False, _bool),
    Setting("f_steps", None, _range),  # the widget's bounds are the probe's steps
    # ④ why gates matter
    _int_setting("g_target", None, 1, MAX_PROBE_INPUT),  # the widget's bounds are the probe's steps
    _choice_setting("g_quantity", "H", ("H", "Z", "R")),
    _int_setting("g_unit", None, 0, CAPS["hidden"] - 1),  # the widget offers the model's units, ranked
    _choice_setting("g_conv", "d2l", ("d2l", "colah", "pytorch")),
    _int_setting("race_hidden", 64, 8, 256),
    _int_setting("race_epochs", 100, 5, 500),
    # a student's predictions stay private: never in a link
    *(_text_setting(f"{n}_guess", "", 2_000, url=False) for n in LESSONS),
    *(Setting(f"{n}_reveal", False, _bool, url=False) for n in LESSONS),
)}


@dataclass(frozen=True)
class Private:
    """A session key of the page's own, never in a link: bookkeeping and per-session caches. `factory` makes a
    container on first use (mutated in place: the session's runs, its caches); else the value is `default`."""

    key: str
    why: str
    default: object = None
    factory: Callable[[], object] | None = None


PRIVATE: dict[str, Private] = {p.key: p for p in (
    Private("_url_restored", "the link's values were read (the session's first run)", False),
    Private("_offline_default", "the default corpus was switched to the offline one (once per session)", False),
    Private("runs", "this session's training runs (workers), oldest first", factory=list),
    Private("_lru", "results about the visitor's own models, counted as kept (state.cached, ui.session_kept)",
            factory=SessionResults),
    Private("_visitor", "this browser's id (state.visitor_id)"),
    Private("uploaded", "the model uploaded to inspect, counted as kept: a KeptUpload, unpacks as (name, checkpoint)"),
    Private("uploaded_id", "the uploaded model's identity for caches: file id and vocabulary edition"),
    Private("uploaded_file", "the upload's file id, so a rerun does not load it again"),
    Private("uploaded_nb", "what a notebook file was recognised as (notebook.NotebookModel), or None"),
    Private("upload_order_unknown", "a notebook file's vocabulary order could not be recognised", False),
    Private("uploaded_error", "why the upload was refused (escaped)", ""),
    Private("_own_corpus", "the visitor's own text as a corpus, counted as kept (ui.own_text.OwnCorpus)"),
    Private("_polling", "a live view polls a running run (a full rerun stops it when the run ends)", False),
    Private("_race_started", "the race was started from the gates tab (it says so while it runs)", False),
    Private("lesson_ready", "the lesson whose set-up button was pressed last"),
    Private("_scrub_seen", "the (step, unit) the server last sent or heard from the scrubber"),
    Private("_scrub_goto", "what the scrubber should move to: step, unit and a counter", factory=dict),
    Private("_scrub_extra", "a unit outside the rows shown that was asked for (it gets a row)"),
    Private("_force_sent", "the setting and probe in the data ②'s browser half last got (live, tabs/force.py)"),
    Private("_force_att", "whether ②'s page has its attribution bars in view (said with each settled setting): "
                          "the attribution is computed only then", False),
    Private("_class_now", "the class this page run belongs to (class_panel.current)"),
    Private("_class_teacher", "(code, token) of the class this session teaches"),
    Private("_class_error", "a class could not be started: the error, shown once"),
    Private("_class_voter", "this session's voter id where the browser has no cookie"),
    Private("_class_joined", "the class this session has joined (counted once against the join limits)"),
    Private("_class_session", "this session's id for class mode's per-session limits"),
    Private("_settings_open", "the projector's Settings popover is open (its own state; starting a class, whose box "
            "then moves out of it, closes it so it does not cover the QR code)", False),
)}


def options(key: str) -> tuple:
    """A choice setting's values, in the widget's order."""
    found = SETTINGS[key].options
    assert found is not None, f"{key} is not a choice"
    return found


def widget_prefix(key: str) -> str:
    """How the keys of a setting's widgets begin ("w.<key>."; the language and a digest of labels follow): what
    a client of the page (tools/loadtest.py) looks a setting's widget up by."""
    return f"w.{key}."
