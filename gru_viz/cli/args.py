"""The command line's argument types: each checks one value and says in one line what is wrong (exit 2)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from gru_viz.data import MAX_VOCAB, read_capped
from gru_viz.train import LIMITS


class UsageError(Exception):
    """A command line that cannot be run as given: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing its usage and exiting."""

    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        raise UsageError(message)


def _unit_interval(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"{what} must lie in [0, 1], got {text}")
    return value


def gate(text: str) -> float:
    """A gate's held value (--force-r, --force-z)."""
    return _unit_interval(text, "a gate value")


def strength(text: str) -> float:
    """How strongly a forced gate is blended in (--strength)."""
    return _unit_interval(text, "a forcing strength")


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi]; argparse names the flag in front of the message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {text}")
        return value

    return parse


def limit(name: str) -> Callable[[str], int]:
    """An integer within the bounds train.LIMITS gives the setting `name`."""
    return int_in(*LIMITS[name])


SEED = int_in(0, 2**32 - 1)  # torch.Generator takes 64 bits; 32 are plenty and easy to state


def in_file(text: str) -> str:
    """A file to read; only emptiness is checked here (reading it says what else is wrong, with its cap)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty string")
    return text


def out_file(text: str) -> Path:
    """An output file whose directory exists: nothing is created silently, and a typo fails before training."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty string")
    path = Path(text)
    if text.endswith(("/", "\\")) or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; name a file in it")
    if path.exists() and not path.is_file():  # a FIFO opened for writing waits for a reader: refuse it now
        raise argparse.ArgumentTypeError(f"{text} exists and is not a regular file (a named pipe or a device?)")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {path.parent} does not exist (create it first)")
    return path


LIBRARY_MAGIC = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ")  # ELF, Mach-O (64, fat), PE


def library(text: str) -> str:
    """A compiled extension to load: a regular file that starts like a shared library (read without blocking)."""
    head = read_capped(in_file(text), 64 * 2**20, "a compiled kernel", argparse.ArgumentTypeError)[:4]
    if not head.startswith(LIBRARY_MAGIC):
        raise argparse.ArgumentTypeError(f"{text} is not a compiled library (no ELF, Mach-O or PE header)")
    return text


def out_dir(text: str) -> Path:
    """A directory to write into: it may be new, but its parent must exist."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory, got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {path.parent} does not exist (create it first)")
    return path


def epoch_list(text: str) -> tuple[int, ...]:
    """--snapshot-epochs: a comma-separated list, sorted, each epoch once."""
    try:
        epochs = tuple(sorted({int(e) for e in text.split(",") if e.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of epochs") from None
    if not epochs or epochs[0] < 0:
        raise argparse.ArgumentTypeError("snapshot epochs must be integers >= 0 (0 keeps the initialisation)")
    return epochs


def vocab_sizes(text: str) -> tuple[int, ...]:
    """--vocab-sizes: a comma-separated list of vocabulary sizes from 2 to MAX_VOCAB."""
    parse = int_in(2, MAX_VOCAB)
    sizes = tuple(parse(v.strip()) for v in text.split(",") if v.strip())
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one vocabulary size, e.g. 28,100,3000")
    return sizes

