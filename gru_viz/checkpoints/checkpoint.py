"""Safetensors checkpoints: the 11 tensors under d2l's names plus vocab (and its tokenisation), config and
history; never pickle.

Loading validates the header (names, shapes, dtypes, offsets, sizes, vocabulary) before any tensor is
allocated, so a hostile or broken file is refused cheaply and with a clear message.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gru_viz.data import MAX_VOCAB, TOKENISATIONS, UNK, Vocab, atomic_write, read_capped, size_label
from gru_viz.nets.concise import ARCH as TORCH_ARCH
from gru_viz.nets.concise import TORCH_PARAM_NAMES, ConciseGRU, concise_from_params, torch_param_shapes
from gru_viz.nets.model import PARAM_NAMES, GRUScratch, from_params, param_shapes
from gru_viz.nets.rnn import RNN_PARAM_NAMES, RNNScratch, rnn_from_params, rnn_param_shapes

FORMAT = "gru_viz.checkpoint/1"
MAX_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024
MAX_ABS = 1e6  # the largest weight accepted: trained GRUs stay within a few units; 1e30 would overflow sums
MAX_HIDDEN = 1024  # the CLI's limit (hidden 1024 is a 13 MB file); the app passes its own training cap
MAX_JSON_DEPTH = 8  # a header needs 3 levels (object, entry, shape), history 2: Python's json recurses per level
# a raw vocabulary of MAX_VOCAB characters as JSON: 10 bytes for "\u4e00", (an escape), 16 for an astral one
MAX_META_BYTES = {"vocab": 18 * MAX_VOCAB + 1024, "config": 64 * 1024, "history": MAX_HEADER_BYTES}
_ZIP, _PICKLE_PROTOCOLS = b"PK\x03\x04", (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')  # all a depth count needs to see
_QUOTE, _SCAN_CHUNK = ord('"'), 1 << 16
_BRACKET_STEP = np.zeros(256, dtype=np.int8)  # +1 opens, -1 closes; a quote is 0 (it only flips the string state)
_BRACKET_STEP[[ord("["), ord("{")]], _BRACKET_STEP[[ord("]"), ord("}")]] = 1, -1


# metadata "arch" -> (tensor names, shapes, builder, name in messages); a file without "arch" is a GRU.
ARCHS = {"gru": (PARAM_NAMES, param_shapes, from_params, "GRU"),
         "rnn": (RNN_PARAM_NAMES, rnn_param_shapes, rnn_from_params, "plain RNN"),
         TORCH_ARCH: (TORCH_PARAM_NAMES, torch_param_shapes, concise_from_params, "nn.GRU")}
# the recurrent matrix each architecture's hidden size is read from, and its rows per hidden unit
HIDDEN_FROM = {"gru": ("W_hh", 1), "rnn": ("W_hh", 1), TORCH_ARCH: ("weight_hh_l0", 3)}


AnyModel = GRUScratch | RNNScratch | ConciseGRU


class CheckpointError(ValueError):
    """A file that is not a valid gru_viz checkpoint; the message is meant for a person."""


@dataclass
class Checkpoint:
    model: AnyModel
    vocab: Vocab
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def checkpoint_bytes(model: AnyModel | dict[str, torch.Tensor], vocab: Vocab, config: dict | None = None,
                     history: list[dict] | None = None, extra: dict | None = None) -> bytes:
    """Serialise to safetensors bytes (float32, d2l's tensor names)."""
    params = model if isinstance(model, dict) else model.params()
    arch = "gru" if "W_xz" in params else TORCH_ARCH if "weight_ih_l0" in params else "rnn"  # only GRUs have gates
    tensors = {name: params[name].detach().to("cpu", torch.float32).contiguous() for name in ARCHS[arch][0]}
    meta = {"format": FORMAT, "vocab": json.dumps(vocab.idx_to_token), "config": json.dumps(config or {}),
            "history": json.dumps(history or []), "arch": arch, "tokens": vocab.mode}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    return st_save(tensors, metadata=meta)


def save_checkpoint(path: Path | str, model: AnyModel | dict[str, torch.Tensor], vocab: Vocab,
                    config: dict | None = None, history: list[dict] | None = None, extra: dict | None = None) -> Path:
    p = Path(path)
    atomic_write(p, checkpoint_bytes(model, vocab, config, history, extra))  # never opens a FIFO found at p
    return p


def json_depth(raw: bytes, limit: int | None = None) -> int:
    """How deeply brackets nest outside strings, in one linear pass without recursion (safe on any input); with
    `limit`, it may stop as soon as the depth passes it (returning a value above the limit).

    Escapes go first, with C-speed replaces: escaped backslashes, then escaped quotes, so every quote left opens
    or closes a string (JSON reads escapes left to right, and a run of backslashes pairs up the same way). What is
    left is only quotes and brackets, scanned in fixed-size chunks carrying two numbers (inside a string or not,
    the depth), so memory stays small too. Outside strings a backslash is invalid JSON and json.loads stops there
    before nesting any deeper, so the count can only be off after the first error, where it no longer matters.
    (A regex for strings was quadratic on an unterminated string of escaped quotes: it retried at every quote.)"""
    tokens = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    depth = deepest = in_string = 0
    for start in range(0, len(tokens), _SCAN_CHUNK):
        chunk = np.frombuffer(tokens, np.uint8, min(_SCAN_CHUNK, len(tokens) - start), start)
        # inside a string after each byte: the parity of the quotes so far (uint8 wraps, parity survives)
        inside = (np.cumsum(chunk == _QUOTE, dtype=np.uint8) + in_string) & 1
        levels = np.cumsum(np.where(inside == 1, 0, _BRACKET_STEP[chunk]), dtype=np.int64) + depth
        deepest, depth, in_string = max(deepest, int(levels.max())), int(levels[-1]), int(inside[-1])
        if limit is not None and deepest > limit:
            break
    return deepest


def _bounded_json(raw: bytes | str, what: str, name: str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH):
    """json.loads after checking size and nesting first (Python's parser recurses once per level)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise CheckpointError(f"{name}: {what} is {len(data):,} bytes, more than the {max_bytes:,} allowed")
    if json_depth(data, max_depth) > max_depth:
        raise CheckpointError(f"{name}: {what} nests deeper than {max_depth} levels")
    try:  # as UTF-8 text (safetensors' rule): json.loads would guess UTF-16 from bytes, whose units the count misreads
        return json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{name}: {what} is not valid JSON") from None


def _short(value: object, limit: int = 40) -> str:
    """A value from the file, for a message: as JSON, cut short (the file chooses it, so it may be huge)."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_header(data: bytes, name: str = "checkpoint") -> tuple[dict, dict]:
    """Parse and check a safetensors header without touching tensor data. Returns (tensor entries, metadata)."""
    if len(data) > MAX_BYTES:
        raise CheckpointError(f"{name}: {len(data) / 1e6:.1f} MB is larger than the {size_label(MAX_BYTES)} limit")
    if data[:4] == _ZIP:
        raise CheckpointError(f"{name}: this is a zip file (a PyTorch .pt/.pth pickle?); only .safetensors is accepted")
    if data[:2] in _PICKLE_PROTOCOLS and data[8:9] != b"{":  # a safetensors header length may begin 80 0x too
        raise CheckpointError(f"{name}: this is a Python pickle; pickles can run code and are never loaded")
    if len(data) < 8:
        raise CheckpointError(f"{name}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise CheckpointError(f"{name}: not a safetensors file (header length {n} does not fit the file)")
    header = _bounded_json(data[8 : 8 + n], "the safetensors header", name, MAX_HEADER_BYTES)
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: not a safetensors file (its header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{name}: malformed metadata (it must map names to strings)")
    return header, meta


def _int_list(value: object, length: int | None = None) -> bool:
    """A JSON list of plain integers (JSON true/false arrive as bools, which Python counts as ints)."""
    return (isinstance(value, list) and (length is None or len(value) == length)
            and all(type(x) is int for x in value))


def _check_entries(header: dict, data_len: int, vocab_size: int, name: str, max_hidden: int = MAX_HIDDEN,
                   arch: str = "gru") -> int:
    """Names, dtypes, shapes and offsets of the tensors (the GRU's 11 or the plain RNN's 5) against each other
    and the file; returns hidden."""
    param_names, shapes_of, _, label = ARCHS[arch]
    names = set(header)
    if names != set(param_names):
        missing, extra = sorted(set(param_names) - names), sorted(names - set(param_names))
        shown = ", ".join(_short(x, 24) for x in extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise CheckpointError(
            f"{name}: tensors do not match the {label}'s (missing {', '.join(missing) or 'none'}, "
            f"unexpected {shown or 'none'})"
        )
    for key in param_names:
        entry = header[key]
        if not isinstance(entry, dict) or entry.get("dtype") != "F32":
            raise CheckpointError(f"{name}: tensor {key} must be float32")
        if not _int_list(entry.get("shape")):
            raise CheckpointError(f"{name}: tensor {key} has a shape that is not a list of integers")
    key, rows = HIDDEN_FROM[arch]
    w = header[key]["shape"]  # hidden×hidden in the scratch models, (3·hidden)×hidden in nn.GRU
    if not (len(w) == 2 and w[0] == rows * w[1]):
        shape = "a square hidden×hidden" if rows == 1 else f"a ({rows}·hidden)×hidden"
        raise CheckpointError(f"{name}: {key} must be {shape} matrix, got shape {_short(w)}")
    hidden = w[1]
    if not 1 <= hidden <= max_hidden:
        raise CheckpointError(f"{name}: hidden size {_short(hidden)} is outside the 1 to {max_hidden} allowed here")
    spans = []
    for key, shape in shapes_of(vocab_size, hidden).items():
        entry = header[key]
        if entry["shape"] != list(shape):
            raise CheckpointError(f"{name}: tensor {key} has shape {_short(entry['shape'])}, expected {list(shape)}")
        offsets = entry.get("data_offsets")
        if not _int_list(offsets, 2):
            raise CheckpointError(f"{name}: tensor {key}: data_offsets must be two integers [begin, end], "
                                  f"got {_short(offsets)}")
        begin, end = offsets
        size = 4 * int(np.prod(shape))
        if not (0 <= begin <= end <= data_len and end - begin == size):
            raise CheckpointError(f"{name}: tensor {key}: data_offsets {_short(offsets)} do not hold its {size:,} "
                                  f"bytes within the {data_len:,} bytes of data")
        spans.append((begin, end))
    spans.sort()
    if spans[0][0] != 0 or any(a[1] != b[0] for a, b in zip(spans, spans[1:])) or spans[-1][1] != data_len:
        raise CheckpointError(f"{name}: tensor data overlaps, leaves gaps or does not exactly fill the file")
    return hidden


def parse_vocab(raw: str, name: str = "checkpoint", mode: str = "d2l") -> Vocab:
    """The vocabulary metadata: `<unk>` and then distinct single characters (no lone surrogate, which no page
    could show), at most MAX_VOCAB in all, for tokenisation `mode`."""
    if mode not in TOKENISATIONS:
        raise CheckpointError(f"{name}: unknown tokenisation {_short(mode)} (expected {' or '.join(TOKENISATIONS)})")
    tokens = _bounded_json(raw, "the vocabulary", name, MAX_META_BYTES["vocab"])
    if not (isinstance(tokens, list) and 2 <= len(tokens) <= MAX_VOCAB and all(isinstance(t, str) for t in tokens)):
        raise CheckpointError(f"{name}: the vocabulary must be a JSON list of 2 to {MAX_VOCAB:,} strings")
    if (tokens[0] != UNK or any(len(t) != 1 or 0xD800 <= ord(t) <= 0xDFFF for t in tokens[1:])
            or len(set(tokens)) != len(tokens)):
        raise CheckpointError(f"{name}: the vocabulary must be <unk> followed by distinct single characters")
    return Vocab(tokens, mode)


def _parse_meta(meta: dict, name: str) -> tuple[dict, list[dict]]:
    """The config (an object) and history (a list of objects, one per epoch) stored as JSON strings."""
    config = _bounded_json(meta.get("config", "{}"), "the config metadata", name, MAX_META_BYTES["config"])
    history = _bounded_json(meta.get("history", "[]"), "the history metadata", name, MAX_META_BYTES["history"])
    if not isinstance(config, dict):
        raise CheckpointError(f"{name}: the config metadata must be a JSON object")
    if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        raise CheckpointError(f"{name}: the history metadata must be a JSON list of objects")
    return config, history


def load_checkpoint(source: Path | str | bytes, name: str | None = None, *, max_hidden: int = MAX_HIDDEN,
                    max_bytes: int = MAX_BYTES) -> Checkpoint:
    """Load and fully validate a checkpoint from a path or from bytes (an upload).

    Every failure is a CheckpointError with one readable line. `max_hidden` refuses larger models (the app
    passes its training cap); `max_bytes` caps the file, which is never read past it.
    """
    if isinstance(source, bytes):
        data, name = source, name or "upload"
        if len(data) > max_bytes:
            raise CheckpointError(f"{name}: larger than the {size_label(max_bytes)} limit for a checkpoint")
    else:
        name = name or str(source)
        data = read_capped(source, max_bytes, "a checkpoint", CheckpointError)
    header, meta = read_header(data, name)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not a gru_viz checkpoint (metadata 'format' is {_short(meta.get('format'))})")
    vocab = parse_vocab(meta.get("vocab", ""), name, meta.get("tokens", "d2l"))  # no "tokens": written before raw
    arch = meta.get("arch", "gru")
    if arch not in ARCHS:
        raise CheckpointError(f"{name}: unknown architecture {arch[:40]!r} (expected {' or '.join(ARCHS)})")
    (n,) = struct.unpack("<Q", data[:8])
    _check_entries(header, len(data) - 8 - n, len(vocab), name, max_hidden, arch)
    config, history = _parse_meta(meta, name)
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{name}: unreadable safetensors data ({str(exc).splitlines()[0][:120]})") from None
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{name}: tensors {', '.join(sorted(bad))} hold NaN or infinite values")
    huge = [k for k, v in tensors.items() if v.abs().max() > MAX_ABS]
    if huge:
        raise CheckpointError(f"{name}: tensors {', '.join(sorted(huge))} hold values beyond ±{MAX_ABS:g} (a trained "
                              "GRU's weights are a few units; such values overflow the softmax and the perplexity)")
    return Checkpoint(ARCHS[arch][2](tensors), vocab, config, history, meta)
