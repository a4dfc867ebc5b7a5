"""Where a corpus comes from: The Time Machine (downloaded, verified by SHA-1, cached), the offline text every
CPython ships, or a local file."""

from __future__ import annotations

import hashlib
import os
import random
import re
import urllib.error
import urllib.request
from pathlib import Path

from gru_viz.data.errors import CorpusError
from gru_viz.data.files import atomic_write, read_capped, read_text_file, size_label
from gru_viz.data.vocab import DEFAULT_MAX_TOKENS, Corpus, make_corpus

TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"
TIMEMACHINE_FILE = "timemachine.txt"
MAX_TIMEMACHINE_BYTES = 5_000_000  # a download or `fetch --from` file is refused above this, before hashing


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

