"""What a class is made of, apart from where it is kept: join codes, the questions and their choices, a tally,
the perplexity answer, and the one error a refused request raises (serve/classroom.py stores them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gru_viz.nets.model import PRESETS

# No 0/O, 1/I/L, 5/S, 2/Z, 8/B: a code read off a projector from the back row is typed right the first time.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6  # 25^6 ≈ 244 million codes against at most classroom.MAX_CLASSES live ones
MAX_TEXT = 280  # characters of a written answer that are kept

# Question key -> its choices. Lessons are the lesson view's "predict, then reveal"; "ppl_<preset>" asks what a
# forcing preset does to the perplexity before the class sees it.
LESSON_CHOICES = {"l1": ("a", "b", "c", "d"), "l2": ("a", "b", "c", "d"), "l3": ("a", "b", "c", "d"),
                  "l4": ("a", "b", "c")}
PPL_CHOICES = ("up", "down", "same")
QUESTIONS: dict[str, tuple[str, ...]] = {
    **LESSON_CHOICES, **{f"ppl_{p}": PPL_CHOICES for p in PRESETS if p != "free"}}
SAME_WITHIN = 0.01  # a perplexity within 1 % of the free model's counts as "about the same"

_CODE_JUNK = re.compile(r"[\s\-_.]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class ClassError(ValueError):
    """A refused request; `reason` is a key the UI translates: no_class, full, full_network, too_many, revealed,
    bad_choice, bad_question, not_teacher."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Tally:
    """A question's votes: the count of each choice (in the question's order), the written answers (newest
    first, raw: escape them where they are shown) and whether the teacher revealed the answer."""

    counts: dict[str, int]
    texts: list[str]
    revealed: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class ClassState:
    """What a class member's page needs on every run: the questions revealed and how many have voted."""

    revealed: frozenset[str]
    voters: int
    expires: float  # the store's clock


def normalize_code(text: object) -> str | None:
    """A code as typed ("acd 346", "ACD-346") -> "ACD346"; None when it cannot be a class code."""
    code = _CODE_JUNK.sub("", str(text or "")).upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def ppl_answer(free: float, forced: float) -> str:
    """What the forcing did to the perplexity: up, down, or same (within SAME_WITHIN of the free model's)."""
    if abs(forced - free) <= SAME_WITHIN * free:
        return "same"
    return "up" if forced > free else "down"


def clean_text(text: object) -> str:
    """A written answer as stored: control characters dropped, cut to MAX_TEXT characters (escape it to show it)."""
    return _CONTROL.sub("", str(text)).strip()[:MAX_TEXT]
