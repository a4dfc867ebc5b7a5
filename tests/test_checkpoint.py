"""Checkpoint round trip and the rejection of malformed or hostile files before anything is allocated."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import pytest
import torch
from safetensors.torch import save as st_save

from gru_viz import checkpoint as ck
from gru_viz.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, save_checkpoint
from gru_viz.data import Vocab
from gru_viz.model import PARAM_NAMES, GRUScratch

VOCAB = Vocab(["<unk>", " ", "a", "b", "c"])


def _model():
    return GRUScratch(len(VOCAB), 6, generator=torch.Generator().manual_seed(0))


def _raw(tensors, meta):
    return st_save(tensors, metadata=meta)


def _good_parts():
    tensors = {n: p.detach().clone() for n, p in _model().params().items()}
    meta = {"format": ck.FORMAT, "vocab": json.dumps(VOCAB.idx_to_token), "config": "{}", "history": "[]"}
    return tensors, meta


def test_round_trip(tmp_path):
    m = _model()
    hist = [{"epoch": 1, "perplexity": 9.5}]
    path = save_checkpoint(tmp_path / "m.safetensors", m, VOCAB, {"hidden": 6, "lr": 1.0}, hist)
    c = load_checkpoint(path)
    assert c.vocab == VOCAB and c.config == {"hidden": 6, "lr": 1.0} and c.history == hist
    for n in PARAM_NAMES:
        assert torch.equal(getattr(c.model, n), getattr(m, n))
    assert load_checkpoint(path.read_bytes()).vocab == VOCAB


def _expect(data: bytes, match: str):
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(data, "f")


def test_rejects_pickle_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Evil(), protocol=4)
    _expect(payload, "pickle")
    assert not marker.exists()
    buf = io.BytesIO()
    torch.save({"W_xz": torch.zeros(2)}, buf)  # a .pt file is a zip holding a pickle
    _expect(buf.getvalue(), "zip")
    assert not marker.exists()


def test_rejects_compressed_bomb_before_inflating():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.pkl", b"\0" * 50_000_000)  # 50 MB of zeros compresses to ~50 KB
    assert len(buf.getvalue()) < 1_000_000
    _expect(buf.getvalue(), "zip")


def test_rejects_oversized_and_truncated(tmp_path):
    _expect(b"\0" * (ck.MAX_BYTES + 1), "limit")
    _expect(b"\x01\x00", "too short")
    _expect(struct.pack("<Q", 10**12) + b"{}", "header length")
    _expect(struct.pack("<Q", 4) + b"nope", "not JSON")
    good = checkpoint_bytes(_model(), VOCAB)
    _expect(good[:-10], "fill the file")
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(ck.MAX_BYTES + 1)
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(big)


def test_header_claims_a_huge_tensor_is_refused_without_allocation():
    tensors, meta = _good_parts()
    data = bytearray(_raw(tensors, meta))
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["W_hz"]["shape"] = [100_000, 100_000]  # 40 GB if anyone believed it
    raw = json.dumps(header).encode()
    _expect(struct.pack("<Q", len(raw)) + raw + data[8 + n :], "hidden size|shape")


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda t, m: t.pop("b_q"), "missing"),
        (lambda t, m: t.update(extra=torch.zeros(1)), "unexpected"),
        (lambda t, m: t.update(W_xz=t["W_xz"].double()), "float32"),
        (lambda t, m: t.update(W_hq=torch.zeros(6, 9)), "shape"),
        (lambda t, m: t["b_h"].__setitem__(0, float("nan")), "NaN"),
        (lambda t, m: t["W_hh"].__setitem__((0, 0), float("inf")), "infinite"),
        (lambda t, m: m.update(format="other"), "not a gru_viz checkpoint"),
        (lambda t, m: m.update(vocab="[1, 2]"), "vocabulary"),
        (lambda t, m: m.update(vocab='["a", "b", "c", "d", "e"]'), "<unk>"),
        (lambda t, m: m.update(vocab='["<unk>", "ab", "c", "d", "e"]'), "single characters"),
        (lambda t, m: m.update(vocab="not json"), "not JSON"),
        (lambda t, m: m.update(config="[]"), "config"),
    ],
)
def test_rejects_malformed(mutate, match):
    tensors, meta = _good_parts()
    mutate(tensors, meta)
    _expect(_raw(tensors, meta), match)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.safetensors")
