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

from gru_viz.checkpoints import checkpoint as ck
from gru_viz.checkpoints.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, save_checkpoint
from gru_viz.data import Vocab
from gru_viz.nets.model import PARAM_NAMES, GRUScratch

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
    _expect(struct.pack("<Q", 4) + b"nope", "not valid JSON")
    good = checkpoint_bytes(_model(), VOCAB)
    _expect(good[:-10], "within the 9")  # the last tensor runs past the truncated data
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(ck.MAX_BYTES + 1)
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(big)


def test_header_claims_a_huge_tensor_is_refused_without_allocation(monkeypatch):
    """Refused from the header alone: the tensor reader, the only place that allocates, is never reached."""
    monkeypatch.setattr(ck, "st_load", lambda *a, **k: pytest.fail("tensors were read before the header was checked"))
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
        (lambda t, m: m.update(vocab="not json"), "not valid JSON"),
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


# --- crafted files from the attack of issue 15: each must be one readable CheckpointError, never a crash ------


def _with_header(header: dict | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def crafted() -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, a word its message must contain); the first eight are the issue's."""
    header, body = _split(checkpoint_bytes(_model(), VOCAB, {"hidden": 6}, [{"epoch": 1, "perplexity": 9.0}]))
    out = {"header nested 100,000 deep": (_with_header(b'{"a": ' + _nested(100_000).encode() + b"}", body),
                                           "nests deeper")}
    for key in ("vocab", "config", "history"):
        h = json.loads(json.dumps(header))
        h["__metadata__"][key] = _nested(50_000)
        out[f"{key} nested 50,000 deep"] = (_with_header(h, body), key)

    def offsets(value, tensor="b_q", match="data_offsets"):
        h = json.loads(json.dumps(header))
        h[tensor]["data_offsets"] = value
        return _with_header(h, body), match

    for label, value in (("5", 5), ("null", None), ("[0,1,2]", [0, 1, 2]), ("negative", [-24, 0]),
                         ("floats", [0.0, 24.0]), ("bools", [False, True]), ("a string", "0-24"),
                         ("past the end", [len(body), len(body) + 24]), ("huge", [2**70, 2**70 + 24])):
        out[f"data_offsets {label}"] = offsets(value)
    out["data_offsets overlapping"] = offsets(header["W_xr"]["data_offsets"], "W_xz", "overlaps")

    def mutate(fn, match):
        h = json.loads(json.dumps(header))
        fn(h)
        return _with_header(h, body), match

    out["vocab nested 5,000 deep (under the size cap)"] = mutate(
        lambda h: h["__metadata__"].update(vocab=_nested(5_000)), "nests deeper")
    out["history nested 20 deep"] = mutate(lambda h: h["__metadata__"].update(history=_nested(20)), "nests deeper")
    out["history of numbers"] = mutate(lambda h: h["__metadata__"].update(history="[1, 2]"), "history")
    out["config 100 kB"] = mutate(lambda h: h["__metadata__"].update(config=json.dumps({"x": "y" * 100_000})),
                                  "config")
    out["metadata not strings"] = mutate(lambda h: h["__metadata__"].update(vocab=["<unk>", "a"]), "metadata")
    out["shape of bools"] = mutate(lambda h: h["b_q"].update(shape=[True] * 1), "shape")
    out["shape of floats"] = mutate(lambda h: h["W_hz"].update(shape=[6.0, 6.0]), "shape")
    out["shape null"] = mutate(lambda h: h["W_hh"].update(shape=None), "shape")
    out["W_hz not square"] = mutate(lambda h: h["W_hz"].update(shape=[6, 5]), "expected [6, 6]")
    out["W_hh not square"] = mutate(lambda h: h["W_hh"].update(shape=[6, 5]), "square")
    out["dtype missing"] = mutate(lambda h: h["W_xz"].pop("dtype"), "float32")
    out["entry not an object"] = mutate(lambda h: h.update(b_z=[1, 2]), "float32")
    out["header a list"] = (_with_header(b"[1, 2]", body), "JSON object")
    out["header not UTF-8"] = (_with_header(b'{"\xff": 1}', body), "not valid JSON")
    out["a 5,000-digit number"] = (_with_header(b'{"a": ' + b"9" * 5000 + b"}", body), "not valid JSON")
    out["many markdown tensor names"] = mutate(
        lambda h: h.update({f"[click me](https://example.com/{i})" * 20: {} for i in range(50)}), "unexpected")
    return out


CRAFTED = crafted()


@pytest.mark.parametrize("label", list(CRAFTED))
def test_crafted_file_is_one_readable_checkpoint_error(label):
    data, match = CRAFTED[label]
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(data, "crafted.safetensors")
    msg = str(info.value)
    assert match in msg and msg.startswith("crafted.safetensors: ")
    assert "\n" not in msg and len(msg) < 300, msg  # one line, and the file cannot make it long


def test_header_depth_is_counted_outside_strings_only():
    assert ck.json_depth(b'{"a": [[1], {"b": 2}]}') == 3
    assert ck.json_depth(b'{"a": "[[[[[[[[[[[[[[", "b": "\\"]]]]"}') == 1  # brackets and escapes inside strings
    assert ck.json_depth(b"") == 0
    tensors, meta = _good_parts()
    meta["config"] = json.dumps({"note": "[" * 10_000})  # deep-looking text is fine inside a string
    assert load_checkpoint(_raw(tensors, meta)).config["note"] == "[" * 10_000


def test_hidden_above_the_callers_cap_is_refused_before_loading():
    big = checkpoint_bytes(GRUScratch(len(VOCAB), 1024), VOCAB)  # the 1024 against the app's 512
    with pytest.raises(CheckpointError, match="hidden size 1024 is outside the 1 to 512 allowed"):
        load_checkpoint(big, "big", max_hidden=512)
    assert load_checkpoint(big).model.hidden == 1024  # the CLI's own limit is ck.MAX_HIDDEN
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(big, "big", max_bytes=1_000_000)


def test_files_are_read_only_up_to_the_cap(tmp_path):
    with pytest.raises(CheckpointError, match="is a device, not a regular file"):
        load_checkpoint("/dev/zero")  # endless: refused before any read
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)
    sparse = tmp_path / "sparse.safetensors"
    with open(sparse, "wb") as f:
        f.truncate(50 * 2**30)  # 50 GB that take no disk
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(sparse)


def _cli(argv, capsys):
    from gru_viz.cli import main

    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("label", list(CRAFTED)[:8] + ["data_offsets overlapping", "many markdown tensor names"])
def test_cli_refuses_crafted_file_in_one_line(label, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(CRAFTED[label][0])
    for argv in (["sample", "--checkpoint", str(bad)],
                 ["trace", "--checkpoint", str(bad), "--text", "time", "--out", str(tmp_path / "t.npz")]):
        code, err = _cli(argv, capsys)
        assert code == 2 and err.startswith("gru_viz: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("label", ["header nested 100,000 deep", "data_offsets null"])
def test_cli_subprocess_crafted_file_exit_2_without_traceback(label, tmp_path):
    import os
    import subprocess
    import sys

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(CRAFTED[label][0])
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for cmd in ("trace", "sample"):
        extra = ["--text", "hi", "--out", str(tmp_path / "o.npz")] if cmd == "trace" else []
        proc = subprocess.run([sys.executable, "-m", "gru_viz", cmd, "--checkpoint", str(bad), *extra],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_header_length_that_looks_like_a_pickle_opcode_still_loads():
    # 0x480 = 1152 bytes of header: the file starts 80 04, the two bytes of a protocol-4 pickle
    for pad in range(0, 2000, 8):
        data = checkpoint_bytes(_model(), VOCAB, extra={"pad": "x" * pad})
        if data[:2] == b"\x80\x04":
            assert load_checkpoint(data).vocab == VOCAB
            return
    pytest.fail("no padding gave a header length of 0x4__")
