"""Bounded reads of files a person names: regular files only, a size cap read before the rest, text decoded or a
clear refusal; and writes that readers never see half done."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from gru_viz.data.errors import CorpusError

MAX_TEXT_BYTES = 20_000_000  # a local corpus file; the book itself is 0.18 MB


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


def atomic_write(target: Path, data: bytes) -> None:
    """Write a new file beside `target`, then rename it over: readers never see a half-written file, and a named
    pipe or device at `target` is replaced, never opened (opening a FIFO for writing waits for a reader)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.part")
    with open(tmp, "xb") as f:  # exclusive: never through something already at the temporary name
        f.write(data)
    os.replace(tmp, target)
