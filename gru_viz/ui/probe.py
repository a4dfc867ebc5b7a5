"""The probe: the text every tab traces and measures, the person's or the inspected model's default passage."""

from __future__ import annotations

import functools

from gru_viz.data import offline_text, preprocess
from gru_viz.explain.inference import opening_words
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Inspected
from gru_viz.ui.state import timemachine
from gru_viz.ui.view import View

MAX_PROBE = 500  # characters the scrubber traces
FALLBACK_PROBE = "the time traveller for so it will be convenient to speak of him"


def default_probe() -> str:
    """A passage of The Time Machine, taken from the downloaded book (never stored in this repository), or a
    line of it written here when the book could not be downloaded.

    Lines are joined with spaces here so the probe reads naturally (d2l's corpus joins them with nothing).
    """
    tm, _ = timemachine()
    if tm is None:
        return FALLBACK_PROBE
    return _passage(tm.raw, tm.text)


@functools.lru_cache(maxsize=2)
def _passage(raw: str, text: str) -> str:
    """The probe's passage of the book, found once per book (preprocessing the whole book took 4 ms, at every
    rerun, twice); the strings are the cached corpus's own, whose hashes Python keeps."""
    text = preprocess(raw.replace("\n", " ")) if raw else text
    start = max(0, text.find("the time traveller for so"))
    return text[start : start + 200].rsplit(" ", 1)[0] or FALLBACK_PROBE


def default_raw_probe() -> str:
    """For a raw-character model: the beginning of the offline Python documentation (quotes, brackets, line
    breaks and indentation), the text docs/RAW.md measures the bundled model's units on."""
    return offline_text()[:MAX_PROBE]


def own_passage(text: str) -> str:
    """A model trained here is probed on its own corpus: the book's passage when the corpus is the book, else the
    corpus's first MAX_PROBE characters, cut at a space when there is one (a word is not split in two)."""
    start = text.find("the time traveller for so")
    if start >= 0:
        return text[start : start + 200].rsplit(" ", 1)[0]
    head = text[:MAX_PROBE]
    cut = head.rsplit(" ", 1)[0] if len(text) > MAX_PROBE else head
    return cut or head


def model_default_probe(inspected: Inspected | None) -> str:
    """The probe a model is scored on when the person chose none: its own corpus for a model trained here;
    for the bundled d2l models the book's passage (offline, the line written in the code); for a raw-character
    model the Python documentation it read."""
    if inspected is not None and inspected.own_text:
        return own_passage(inspected.own_text)
    if inspected is not None and inspected.vocab.mode == "raw":
        return default_raw_probe()
    return default_probe()


def probe_text(inspected: Inspected | None = None) -> str:
    """The probe every tab reads: the person's text, else the model's default (model_default_probe), normalised
    as the inspected model's corpus was (d2l's letters and spaces, or every character for a raw vocabulary) and
    cut to MAX_PROBE ('' when nothing is left)."""
    raw = model_default_probe(inspected) if ps.get("probe") is None else str(ps.get("probe"))
    return (inspected.vocab.normalize(raw) if inspected is not None else preprocess(raw))[:MAX_PROBE]


def probe_label(view: View, inspected: Inspected) -> str:
    """The probe box's label: what the inspected model's vocabulary keeps of a text (d2l's letters, or raw)."""
    return view.t("probe_raw" if inspected.vocab.mode == "raw" else "probe")


def probe_prefix(probe: str) -> str:
    """Where continuations start: the probe's first words, so the continuation follows the text the
    perplexities are measured on."""
    return opening_words(probe)
