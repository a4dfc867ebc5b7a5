"""Safetensors checkpoints: the 11 tensors under d2l's names plus vocab, config and history; never pickle.

Loading validates the header (names, shapes, dtypes, offsets, sizes, vocabulary) before any tensor is
allocated, so a hostile or broken file is refused cheaply and with a clear message.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gru_viz.data import UNK, Vocab
from gru_viz.model import PARAM_NAMES, GRUScratch, from_params, param_shapes
from gru_viz.rnn import RNN_PARAM_NAMES, RNNScratch, rnn_from_params, rnn_param_shapes

FORMAT = "gru_viz.checkpoint/1"
MAX_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024
MAX_HIDDEN = 1024
MAX_VOCAB = 512
_ZIP, _PICKLE_PROTOCOLS = b"PK\x03\x04", (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


# metadata "arch" -> (tensor names, shapes, builder, name in messages); a file without "arch" is a GRU.
ARCHS = {"gru": (PARAM_NAMES, param_shapes, from_params, "GRU"),
         "rnn": (RNN_PARAM_NAMES, rnn_param_shapes, rnn_from_params, "plain RNN")}


class CheckpointError(ValueError):
    """A file that is not a valid gru_viz checkpoint; the message is meant for a person."""


@dataclass
class Checkpoint:
    model: GRUScratch | RNNScratch
    vocab: Vocab
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def checkpoint_bytes(model: GRUScratch | RNNScratch | dict[str, torch.Tensor], vocab: Vocab, config: dict | None = None,
                     history: list[dict] | None = None, extra: dict | None = None) -> bytes:
    """Serialise to safetensors bytes (float32, d2l's tensor names)."""
    params = model.params() if isinstance(model, (GRUScratch, RNNScratch)) else model
    arch = "gru" if "W_xz" in params else "rnn"  # only the GRU has gates
    tensors = {name: params[name].detach().to("cpu", torch.float32).contiguous() for name in ARCHS[arch][0]}
    meta = {"format": FORMAT, "vocab": json.dumps(vocab.idx_to_token), "config": json.dumps(config or {}),
            "history": json.dumps(history or []), "arch": arch}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    return st_save(tensors, metadata=meta)


def save_checkpoint(path: Path | str, model: GRUScratch | RNNScratch | dict[str, torch.Tensor], vocab: Vocab,
                    config: dict | None = None, history: list[dict] | None = None, extra: dict | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(checkpoint_bytes(model, vocab, config, history, extra))
    return p


def read_header(data: bytes, name: str = "checkpoint") -> tuple[dict, dict]:
    """Parse and check a safetensors header without touching tensor data. Returns (tensor entries, metadata)."""
    if len(data) > MAX_BYTES:
        raise CheckpointError(f"{name}: {len(data) / 1e6:.1f} MB is larger than the {MAX_BYTES // 2**20} MB limit")
    if data[:4] == _ZIP:
        raise CheckpointError(f"{name}: this is a zip file (a PyTorch .pt/.pth pickle?); only .safetensors is accepted")
    # A safetensors header length of 640 (0x280) also starts with b"\x80\x02": its JSON then opens at byte 8.
    if data[:2] in _PICKLE_PROTOCOLS and data[8:9] != b"{":
        raise CheckpointError(f"{name}: this is a Python pickle; pickles can run code and are never loaded")
    if len(data) < 8:
        raise CheckpointError(f"{name}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise CheckpointError(f"{name}: not a safetensors file (header length {n} does not fit the file)")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{name}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: not a safetensors file (its header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{name}: malformed metadata")
    return header, meta


def _check_entries(header: dict, data_len: int, vocab_size: int, name: str, arch: str = "gru") -> int:
    param_names, shapes_of, _, label = ARCHS[arch]
    names = set(header)
    if names != set(param_names):
        missing, extra = sorted(set(param_names) - names), sorted(names - set(param_names))
        raise CheckpointError(
            f"{name}: tensors do not match the {label}'s (missing {missing or 'none'}, unexpected {extra or 'none'})"
        )
    for key, entry in header.items():
        if not isinstance(entry, dict) or entry.get("dtype") != "F32":
            raise CheckpointError(f"{name}: tensor {key} must be float32")
    w = header["W_hh"].get("shape")  # hidden×hidden in both architectures
    if not (isinstance(w, list) and len(w) == 2 and all(isinstance(x, int) for x in w) and w[0] == w[1]):
        raise CheckpointError(f"{name}: W_hh must be a square hidden×hidden matrix")
    hidden = w[0]
    if not 1 <= hidden <= MAX_HIDDEN:
        raise CheckpointError(f"{name}: hidden size {hidden} is outside 1..{MAX_HIDDEN}")
    expected = shapes_of(vocab_size, hidden)
    spans = []
    for key, shape in expected.items():
        entry = header[key]
        if entry.get("shape") != list(shape):
            raise CheckpointError(f"{name}: tensor {key} has shape {entry.get('shape')}, expected {list(shape)}")
        begin, end = entry.get("data_offsets", (None, None))
        size = 4 * int(torch.tensor(shape).prod()) if shape else 4
        if not (isinstance(begin, int) and isinstance(end, int) and end - begin == size and begin >= 0):
            raise CheckpointError(f"{name}: tensor {key} has inconsistent data offsets")
        spans.append((begin, end))
    spans.sort()
    if spans[0][0] != 0 or any(a[1] != b[0] for a, b in zip(spans, spans[1:])) or spans[-1][1] != data_len:
        raise CheckpointError(f"{name}: tensor data does not exactly fill the file")
    return hidden


def parse_vocab(raw: str, name: str = "checkpoint") -> Vocab:
    try:
        tokens = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointError(f"{name}: the vocabulary is not JSON") from None
    if not (isinstance(tokens, list) and 2 <= len(tokens) <= MAX_VOCAB and all(isinstance(t, str) for t in tokens)):
        raise CheckpointError(f"{name}: the vocabulary must be a JSON list of 2 to {MAX_VOCAB} strings")
    if tokens[0] != UNK or any(len(t) != 1 for t in tokens[1:]) or len(set(tokens)) != len(tokens):
        raise CheckpointError(f"{name}: the vocabulary must be <unk> followed by distinct single characters")
    return Vocab(tokens)


def load_checkpoint(source: Path | str | bytes, name: str | None = None) -> Checkpoint:
    """Load and fully validate a checkpoint from a path or from bytes (an upload)."""
    if isinstance(source, bytes):
        data, name = source, name or "upload"
    else:
        p = Path(source)
        name = name or str(p)
        if not p.is_file():
            raise CheckpointError(f"{name}: no such file")
        if p.stat().st_size > MAX_BYTES:
            raise CheckpointError(f"{name}: larger than the {MAX_BYTES // 2**20} MB limit")
        data = p.read_bytes()
    header, meta = read_header(data, name)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not a gru_viz checkpoint (metadata 'format' is {meta.get('format')!r})")
    vocab = parse_vocab(meta.get("vocab", ""), name)
    arch = meta.get("arch", "gru")
    if arch not in ARCHS:
        raise CheckpointError(f"{name}: unknown architecture {arch[:40]!r} (expected {' or '.join(ARCHS)})")
    (n,) = struct.unpack("<Q", data[:8])
    _check_entries(header, len(data) - 8 - n, len(vocab), name, arch)
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{name}: unreadable safetensors data ({exc})") from None
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{name}: tensors {', '.join(sorted(bad))} hold NaN or infinite values")
    try:
        config, history = json.loads(meta.get("config", "{}")), json.loads(meta.get("history", "[]"))
    except json.JSONDecodeError:
        raise CheckpointError(f"{name}: config or history metadata is not JSON") from None
    if not isinstance(config, dict) or not isinstance(history, list):
        raise CheckpointError(f"{name}: config must be a JSON object and history a JSON list")
    return Checkpoint(ARCHS[arch][2](tensors), vocab, config, history, meta)
