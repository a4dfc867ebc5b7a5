"""The two tokenisations (d2l's letters-only and raw characters), their vocabulary, and a text made a Corpus."""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gru_viz.data.errors import CorpusError

UNK = "<unk>"
TOKENISATIONS = ("d2l", "raw")  # d2l: a-z and space (the chapter's); raw: every character of the text
RAW_COVERAGE = 0.995  # a large alphabet's default vocabulary: the most frequent characters covering this share
RAW_KEEP_ALL = 300  # a text with at most this many distinct characters keeps every one (as Karpathy's char-rnn)
MAX_VOCAB = 4000  # a raw vocabulary's hard cap, <unk> included (W_x* and W_hq grow with it)
UNK_CHAR = "\ufffd"  # how <unk> reads in raw text, one character like every other token
DEFAULT_MAX_TOKENS = 10_000


# --- preprocessing (d2l's read_time_machine / tokenize) ------------------------------------

_NON_LETTERS = re.compile("[^A-Za-z]+")


def preprocess(text: str) -> str:
    """d2l's normalisation: per line, runs of non-letters -> one space, strip, lowercase; lines joined with nothing."""
    return "".join(_NON_LETTERS.sub(" ", line).strip().lower() for line in text.splitlines())


class Vocab:
    """Character vocabulary: tokens by descending frequency (ties in first-seen order), `<unk>` at index 0.

    `mode` is the tokenisation the vocabulary was built for ("d2l" or "raw"): it says how a text is normalised
    before it is encoded (`normalize`), and a checkpoint stores it, so every loader treats text alike.
    """

    def __init__(self, idx_to_token: Sequence[str], mode: str = "d2l"):
        if not idx_to_token or idx_to_token[0] != UNK:
            raise CorpusError("a vocabulary must start with <unk>")
        if len(set(idx_to_token)) != len(idx_to_token):
            raise CorpusError("a vocabulary must not repeat tokens")
        if mode not in TOKENISATIONS:
            raise CorpusError(f"the tokenisation must be {' or '.join(TOKENISATIONS)}, got {mode!r}")
        self.idx_to_token: list[str] = list(idx_to_token)
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(self.idx_to_token)}
        self.mode = mode
        # raw text keeps one character per step, so <unk> decodes to one character too
        self._shown = [UNK_CHAR if mode == "raw" else UNK, *self.idx_to_token[1:]]

    @classmethod
    def build(cls, text: str, mode: str = "d2l", max_size: int | None = None) -> Vocab:
        """d2l: every character of the (normalised) text. raw: the most frequent characters, `max_size` tokens
        with `<unk>` (None: default_raw_size, every character up to RAW_KEEP_ALL distinct ones)."""
        # Counter keeps first-seen order and sorted() is stable, as in d2l's Vocab.
        freqs = sorted(collections.Counter(text).items(), key=lambda kv: kv[1], reverse=True)
        tokens = [tok for tok, _ in freqs if tok != UNK]
        if mode == "raw":
            size = default_raw_size([n for _, n in freqs]) if max_size is None else max_size
            if not 2 <= size <= MAX_VOCAB:
                raise CorpusError(f"the vocabulary size must be from 2 to {MAX_VOCAB:,}, got {size}")
            tokens = tokens[: size - 1]
        return cls([UNK, *tokens], mode)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.idx_to_token == other.idx_to_token and self.mode == other.mode

    def normalize(self, text: str) -> str:
        """A text as this vocabulary's corpus was prepared: d2l's `preprocess`, or raw's line endings only."""
        return preprocess(text) if self.mode == "d2l" else normalize_raw(text)

    def encode(self, text: str) -> list[int]:
        """Character ids; characters not in the vocabulary become `<unk>` (0)."""
        return [self.token_to_idx.get(ch, 0) for ch in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._shown[int(i)] for i in ids)

    def coverage(self, text: str) -> float:
        """The share of the text's characters that the vocabulary holds (1.0 for an empty text)."""
        return 1.0 - self.encode(text).count(0) / len(text) if text else 1.0


def normalize_raw(text: str) -> str:
    """The raw tokenisation keeps every character; only Windows and old Mac line endings become one newline."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def default_raw_size(counts: Sequence[int]) -> int:
    """A raw vocabulary's default size (with `<unk>`): every character when the text has at most RAW_KEEP_ALL
    distinct ones (digits, capitals and punctuation of any alphabetic script), else the most frequent covering
    RAW_COVERAGE (only large alphabets such as Chinese are cut); counts descending."""
    if len(counts) <= RAW_KEEP_ALL:
        return min(MAX_VOCAB, len(counts) + 1)
    return coverage_size(counts)


def coverage_size(counts: Sequence[int], coverage: float = RAW_COVERAGE) -> int:
    """Vocabulary size (with `<unk>`) whose most frequent characters cover `coverage` of all: counts descending."""
    total, acc = sum(counts), 0
    for i, n in enumerate(counts):
        acc += n
        if acc >= coverage * total:
            return min(MAX_VOCAB, i + 2)
    return min(MAX_VOCAB, len(counts) + 1)


# Control Pictures (U+2400 block) for the C0 controls; the usual symbols for the whitespace students meet.
_VISIBLE = {"\n": "↵", "\t": "⇥", " ": "␣", "\r": "␍", "\u00a0": "⍽", "\u3000": "␣", "\x7f": "␡",
            **{chr(c): chr(0x2400 + c) for c in range(32) if chr(c) not in "\n\t\r"}}


def visible_char(ch: str) -> str:
    """A character as the app draws it on an axis, a tape or a bar: ↵ newline, ⇥ tab, ␣ space, other control
    characters as their Control Picture; anything else (a letter, CJK, `<unk>`) unchanged."""
    return _VISIBLE.get(ch, ch)


@dataclass(frozen=True)
class Corpus:
    """A normalised text, its vocabulary (built on the whole text) and the truncated token stream."""

    name: str
    text: str
    vocab: Vocab
    tokens: list[int]
    raw: str = field(default="", repr=False)  # the text before normalisation (for readable excerpts)
    coverage: float = 1.0  # the share of the text's characters the vocabulary holds (raw vocabularies cut some)


def make_corpus(raw: str, name: str, max_tokens: int = DEFAULT_MAX_TOKENS, tokens: str = "d2l",
                max_vocab: int | None = None) -> Corpus:
    """d2l's load_corpus_time_machine for any raw text; `max_tokens <= 0` keeps everything.

    `tokens="raw"` keeps every character (case, digits, punctuation, newlines, CJK...) with a vocabulary of the
    `max_vocab` most frequent ones (None: those covering RAW_COVERAGE of the text)."""
    if tokens not in TOKENISATIONS:
        raise CorpusError(f"the tokenisation must be {' or '.join(TOKENISATIONS)}, got {tokens!r}")
    if tokens == "d2l":
        text = preprocess(raw)
        if not text.strip():
            raise CorpusError(f"{name}: the text has no letters A-Z after normalisation (for other scripts, "
                              "choose the raw-character tokenisation)")
    else:
        text = normalize_raw(raw)
        if not text:
            raise CorpusError(f"{name}: the text is empty")
    vocab = Vocab.build(text, tokens, max_vocab)
    ids = vocab.encode(text)
    coverage = 1.0 - ids.count(0) / len(ids)
    if max_tokens > 0:
        ids = ids[:max_tokens]
    return Corpus(name=name, text=text, vocab=vocab, tokens=ids, raw=raw, coverage=coverage)
