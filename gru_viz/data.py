"""Corpus sources, the two tokenisations (d2l's letters-only and raw characters) with their vocabulary, and
d2l's two minibatch iterators."""

from __future__ import annotations

import collections
import hashlib
import os
import random
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"
TIMEMACHINE_FILE = "timemachine.txt"
UNK = "<unk>"
TOKENISATIONS = ("d2l", "raw")  # d2l: a-z and space (the chapter's); raw: every character of the text
RAW_COVERAGE = 0.995  # a large alphabet's default vocabulary: the most frequent characters covering this share
RAW_KEEP_ALL = 300  # a text with at most this many distinct characters keeps every one (as Karpathy's char-rnn)
MAX_VOCAB = 4000  # a raw vocabulary's hard cap, <unk> included (W_x* and W_hq grow with it)
UNK_CHAR = "\ufffd"  # how <unk> reads in raw text, one character like every other token
DEFAULT_MAX_TOKENS = 10_000
MAX_TEXT_BYTES = 20_000_000  # a local corpus file; the book itself is 0.18 MB
MAX_TIMEMACHINE_BYTES = 5_000_000  # a download or `fetch --from` file is refused above this, before hashing


class CorpusError(ValueError):
    """A corpus could not be obtained or is unusable; the message is meant for a person."""


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


# --- sources -------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where downloads are kept: $GRU_VIZ_CACHE_DIR, else the user's cache directory."""
    env = os.environ.get("GRU_VIZ_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("gru_viz"))


def sha1_of(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()  # an integrity check, as d2l does


def install_timemachine(source: Path, directory: Path | None = None) -> Path:
    """Verify a local copy of The Time Machine and place it in the cache (for offline classrooms)."""
    data = read_capped(source, MAX_TIMEMACHINE_BYTES, "a copy of The Time Machine")
    if sha1_of(data) != TIMEMACHINE_SHA1:
        raise CorpusError(f"{source}: SHA-1 {sha1_of(data)} is not The Time Machine's {TIMEMACHINE_SHA1}")
    target = (directory or cache_dir()) / TIMEMACHINE_FILE
    atomic_write(target, data)
    return target


def atomic_write(target: Path, data: bytes) -> None:
    """Write a new file beside `target`, then rename it over: readers never see a half-written file, and a named
    pipe or device at `target` is replaced, never opened (opening a FIFO for writing waits for a reader)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.part")
    with open(tmp, "xb") as f:  # exclusive: never through something already at the temporary name
        f.write(data)
    os.replace(tmp, target)


def fetch_timemachine(url: str = TIMEMACHINE_URL, directory: Path | None = None, timeout: float = 20.0) -> str:
    """The Time Machine's raw text: from the cache if it verifies, else downloaded, verified and cached."""
    target = (directory or cache_dir()) / TIMEMACHINE_FILE
    if target.exists():
        try:
            data = read_capped(target, MAX_TIMEMACHINE_BYTES, "a copy of The Time Machine")
        except CorpusError:
            data = b""  # unreadable or oversized: replaced below like any corrupt entry
        if sha1_of(data) == TIMEMACHINE_SHA1:
            return data.decode("utf-8")
        target.unlink(missing_ok=True)  # a corrupt cache entry is re-downloaded, not trusted
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed http URL by design)
            data = response.read(MAX_TIMEMACHINE_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CorpusError(
            f"could not download The Time Machine from {url} ({reason}); you seem to be offline: "
            "use the offline corpus, a local file, or `python -m gru_viz fetch --from FILE`"
        ) from None
    if len(data) > MAX_TIMEMACHINE_BYTES:
        raise CorpusError(f"the file at {url} is over the {size_label(MAX_TIMEMACHINE_BYTES)} limit for the book")
    if sha1_of(data) != TIMEMACHINE_SHA1:
        raise CorpusError(f"the file downloaded from {url} has the wrong SHA-1 ({sha1_of(data)}); not cached")
    atomic_write(target, data)
    return data.decode("utf-8")


OFFLINE_NAME = "Python documentation topics (pydoc_data, shipped with CPython)"
TM_NAME = "The Time Machine (H. G. Wells)"  # the book's corpus, as the chapter trains on it


def offline_text() -> str:
    """English text that every CPython install ships: the pydoc topics, or module docstrings if those are stripped."""
    try:
        from pydoc_data.topics import topics

        return "\n".join(topics[key] for key in sorted(topics))
    except ImportError:  # some distributions strip pydoc_data
        import argparse
        import collections as c
        import json
        import string

        return "\n".join(m.__doc__ or "" for m in (argparse, c, json, string, os, re, random, hashlib))


def size_label(n: int) -> str:
    """A byte count for a message: 64 MiB, 20 MB, 900 bytes."""
    if n >= 2**20 and n % 2**20 == 0:
        return f"{n // 2**20} MiB"
    return f"{n / 1e6:g} MB" if n >= 1_000_000 else f"{n:,} bytes"


class _NotRegular(OSError):
    """The path names a FIFO, a device or a socket; the message is what it is."""


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, refusing anything else before a read can block: a named pipe with no
    writer, a terminal or a socket would wait forever. O_NONBLOCK makes the open itself return at once."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise _NotRegular("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                              else "a device")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path: Path | str, max_bytes: int, what: str = "a file",
                error: type[Exception] = CorpusError) -> bytes:
    """A regular file's bytes, reading at most max_bytes + 1 of them, so a huge file is refused after the cap, not
    loaded; a FIFO, device or socket is refused unread; every failure is `error` with one line naming the path."""
    p = Path(path)
    if not str(path).strip():
        raise error("no file given (the path is empty)")
    try:
        with _open_regular(p) as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except IsADirectoryError:
        raise error(f"{p}: is a directory, not a file") from None
    except _NotRegular as exc:
        raise error(f"{p}: is {exc}, not a regular file") from None
    except PermissionError:
        raise error(f"{p}: permission denied") from None
    except OSError as exc:
        raise error(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(f"{p}: larger than the {size_label(max_bytes)} limit for {what}")
    return data


def read_text_file(path: Path | str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A local text file (UTF-8, or UTF-16 with or without a BOM), refusing binaries and oversized files."""
    return decode_text(read_capped(path, max_bytes, "a text file"), str(path))


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
         (b"\xfe\xff", "utf-16"))


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when NUL bytes fill one byte of most pairs and almost none of the other (text
    of Latin letters in UTF-16 without a byte-order mark) and the decoded start reads as text; else None."""
    head = head[: len(head) // 2 * 2]
    half = len(head) // 2
    if half < 8:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    for encoding, zeros, others in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros >= 0.5 * half and others <= 0.05 * half:
            text = head.decode(encoding, errors="replace")
            if sum(ch.isprintable() or ch in "\n\r\t" for ch in text) >= 0.95 * len(text):
                return encoding
    return None


def decode_text(data: bytes, name: str) -> str:
    """Text from bytes: UTF-8 (BOM optional), UTF-16/32 with a BOM, UTF-16 without one; else a clear error."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data[:8192]:
        encoding = _utf16_without_bom(data[:8192])
        if encoding is None:
            raise CorpusError(f"{name}: looks like a binary file, not text (it contains NUL bytes)")
    if encoding is not None:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            label = encoding.upper().replace("-LE", "").replace("-BE", "")
            raise CorpusError(f"{name}: looks like {label} text, but byte {exc.start} cannot be decoded") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{name}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8 and try again"
        ) from None


def load_corpus(source: str = "timemachine", max_tokens: int = DEFAULT_MAX_TOKENS, url: str = TIMEMACHINE_URL,
                tokens: str = "d2l", max_vocab: int | None = None) -> Corpus:
    """`timemachine` (download/cache), `offline` (pydoc topics) or a path to a UTF-8 text file, tokenised as
    `make_corpus` says."""
    if not source.strip():
        raise CorpusError("no corpus given: use timemachine, offline, or the path of a UTF-8 .txt file")
    if source == "timemachine":
        raw, name = fetch_timemachine(url), TM_NAME
    elif source == "offline":
        raw, name = offline_text(), OFFLINE_NAME
    else:
        raw, name = read_text_file(source), Path(source).name
    return make_corpus(raw, name, max_tokens, tokens, max_vocab)


# --- minibatch iterators (d2l's seq_data_iter_sequential / seq_data_iter_random) ------------


def min_corpus_tokens(batch_size: int, num_steps: int) -> int:
    """Fewest tokens for which both iterators yield at least one minibatch whatever their random offset."""
    return batch_size * num_steps + num_steps + 1


def seq_data_iter_sequential(
    corpus: Sequence[int], batch_size: int, num_steps: int, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Adjacent minibatches continue each other row by row, so the state can be carried across them."""
    offset = rng.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    xs = torch.tensor(corpus[offset : offset + num_tokens]).reshape(batch_size, -1)
    ys = torch.tensor(corpus[offset + 1 : offset + 1 + num_tokens]).reshape(batch_size, -1)
    num_batches = xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield xs[:, i : i + num_steps], ys[:, i : i + num_steps]  # (batch, steps) each


def seq_data_iter_random(
    corpus: Sequence[int], batch_size: int, num_steps: int, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random, non-overlapping subsequences; no relation between minibatches, so the state restarts."""
    corpus = corpus[rng.randint(0, num_steps - 1) :]
    num_subseqs = (len(corpus) - 1) // num_steps
    starts = list(range(0, num_subseqs * num_steps, num_steps))
    rng.shuffle(starts)
    num_batches = num_subseqs // batch_size
    for i in range(0, batch_size * num_batches, batch_size):
        batch = starts[i : i + batch_size]
        xs = [corpus[j : j + num_steps] for j in batch]
        ys = [corpus[j + 1 : j + 1 + num_steps] for j in batch]
        yield torch.tensor(xs), torch.tensor(ys)


def batches(
    corpus: Sequence[int], batch_size: int, num_steps: int, random_iter: bool, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of minibatches; refuses corpora too short to give any (d2l silently yields none)."""
    need = min_corpus_tokens(batch_size, num_steps)
    if len(corpus) < need:
        raise CorpusError(
            f"the corpus has {len(corpus)} tokens; batch size {batch_size} × {num_steps} steps needs at least {need}"
        )
    make = seq_data_iter_random if random_iter else seq_data_iter_sequential
    return make(corpus, batch_size, num_steps, rng)
