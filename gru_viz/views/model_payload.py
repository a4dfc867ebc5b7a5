"""A model's weights and vocabulary as the browser's model worker receives them (ui/scrubber/model_engine.js): one
versioned, JSON-able dict, checked here when written and read, and again in the browser before any step runs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import numpy as np
import torch

from gru_viz.data import TOKENISATIONS, UNK, UNK_CHAR, Vocab

VERSION = 1
KIND = "gru_viz.model"
CONVENTIONS = ("d2l", "torch")  # d2l's scratch GRU; nn.GRU's (reset gate after the recurrent product) + Linear
# The weights of a model above this many bytes (as float32) stay on the server: a raw vocabulary of thousands
# makes W_x* and W_hq megabytes per visitor, sent again at every model change.
MAX_BROWSER_BYTES = 4_000_000


class ModelPayloadError(ValueError):
    """A model the browser cannot run, or a payload that does not hold one; the message is meant for a person."""


def tensor_names(convention: str) -> tuple[str, ...]:
    """The tensors each convention sends, in this order."""
    if convention == "d2l":
        return ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h", "W_hq", "b_q")
    if convention == "torch":  # nn.GRU's gate order r, z, n in each of the four; then nn.Linear
        return ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "linear_weight", "linear_bias")
    raise ModelPayloadError(f"the convention must be {' or '.join(CONVENTIONS)}, got {convention!r}")


def shapes(convention: str, vocab_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape as stored: d2l's (one-hot rows times W) or PyTorch's (W times a column)."""
    v, h = vocab_size, hidden
    if convention == "d2l":
        out: dict[str, tuple[int, ...]] = {}
        for g in "zrh":
            out[f"W_x{g}"], out[f"W_h{g}"], out[f"b_{g}"] = (v, h), (h, h), (h,)
        return {**out, "W_hq": (h, v), "b_q": (v,)}
    tensor_names(convention)
    return {"weight_ih": (3 * h, v), "weight_hh": (3 * h, h), "bias_ih": (3 * h,), "bias_hh": (3 * h,),
            "linear_weight": (v, h), "linear_bias": (v,)}


def _encode(t: torch.Tensor | np.ndarray, dtype: str) -> str:
    a = np.ascontiguousarray(np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t), dtype="<" + dtype)
    return base64.b64encode(a.tobytes()).decode("ascii")


def model_payload(tensors: Mapping[str, torch.Tensor], vocab: Vocab, convention: str = "d2l",
                  max_bytes: int = MAX_BROWSER_BYTES) -> dict:
    """The payload of a model: tensors by `tensor_names(convention)`. float32 tensors travel as float32 (as a
    checkpoint stores them; the browser widens them to float64 exactly), float64 ones as float64."""
    names = tensor_names(convention)
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ModelPayloadError(f"the model lacks {', '.join(missing)} for the {convention} convention")
    v = len(vocab)
    hidden = int(tensors["W_hz" if convention == "d2l" else "weight_hh"].shape[-1])
    want = shapes(convention, v, hidden)
    dtype = "f8" if any(tensors[n].dtype == torch.float64 for n in names) else "f4"
    size = sum(int(np.prod(s)) for s in want.values()) * (8 if dtype == "f8" else 4)
    if size > max_bytes:
        raise ModelPayloadError(f"the model's weights are {size / 1e6:.1f} MB, above the {max_bytes / 1e6:.0f} MB "
                                "the page sends to a browser")
    data: dict[str, dict] = {}
    for n in names:
        t = tensors[n]
        if tuple(t.shape) != want[n]:
            raise ModelPayloadError(f"{n} has shape {tuple(t.shape)}, expected {want[n]}")
        data[n] = {"shape": list(want[n]), "data": _encode(t, dtype)}
    digest = hashlib.sha1(f"{convention}|{vocab.mode}|{dtype}".encode())  # noqa: S324 (an identity, not security)
    digest.update("\x00".join(vocab.idx_to_token).encode("utf-8", "surrogatepass"))
    for n in names:
        digest.update(data[n]["data"].encode("ascii"))
    return {
        "kind": KIND,
        "version": VERSION,
        "id": digest.hexdigest()[:16],
        "convention": convention,
        "vocab_size": v,
        "hidden": hidden,
        "dtype": "float64" if dtype == "f8" else "float32",
        # how text becomes tokens: the vocabulary's own normalisation (data.Vocab.normalize) and characters
        "tokens": {"mode": vocab.mode, "idx_to_token": list(vocab.idx_to_token),
                   "unk_shown": UNK_CHAR if vocab.mode == "raw" else UNK},
        "tensors": data,
    }


def scratch_payload(model: torch.nn.Module, vocab: Vocab, max_bytes: int = MAX_BROWSER_BYTES) -> dict:
    """The payload of a model the app holds: a d2l scratch GRU (model.GRUScratch), or an nn.GRU-convention one
    (concise.ConciseGRU, sent in PyTorch's layout)."""
    if getattr(model, "convention", None) == "torch":
        t = {"weight_ih": model.weight_ih, "weight_hh": model.weight_hh, "bias_ih": model.bias_ih,
             "bias_hh": model.bias_hh, "linear_weight": model.W_hq.T, "linear_bias": model.b_q}
        return model_payload({k: v.detach() for k, v in t.items()}, vocab, "torch", max_bytes)
    if getattr(model, "arch", "gru") != "gru" or not hasattr(model, "W_xz"):
        raise ModelPayloadError("only a GRU runs in the browser; a plain RNN stays on the server")
    return model_payload({n: p.detach() for n, p in model.params().items()}, vocab, "d2l", max_bytes)


def torch_gru_payload(gru: torch.nn.GRU, linear: torch.nn.Linear, vocab: Vocab,
                      max_bytes: int = MAX_BROWSER_BYTES) -> dict:
    """The payload of a one-layer nn.GRU (one-hot inputs, bias on) followed by nn.Linear: PyTorch's convention."""
    if gru.num_layers != 1 or gru.bidirectional or not gru.bias or gru.batch_first not in (True, False):
        raise ModelPayloadError("only a one-layer, one-direction nn.GRU with biases runs in the browser")
    t = {"weight_ih": gru.weight_ih_l0, "weight_hh": gru.weight_hh_l0, "bias_ih": gru.bias_ih_l0,
         "bias_hh": gru.bias_hh_l0, "linear_weight": linear.weight, "linear_bias": linear.bias}
    return model_payload({k: v.detach() for k, v in t.items()}, vocab, "torch", max_bytes)


def read_model_payload(p: object) -> tuple[dict[str, np.ndarray], Vocab, str]:
    """Check a payload as the browser does and return (float64 tensors, vocabulary, convention)."""
    if not isinstance(p, dict) or p.get("kind") != KIND:
        raise ModelPayloadError("not a gru_viz model payload")
    if p.get("version") != VERSION:
        raise ModelPayloadError(f"model payload version {p.get('version')!r}, this reader knows {VERSION}")
    convention = p.get("convention")
    names = tensor_names(convention if isinstance(convention, str) else repr(convention))
    tok = p.get("tokens") or {}
    if tok.get("mode") not in TOKENISATIONS:
        raise ModelPayloadError(f"unknown tokenisation {tok.get('mode')!r}")
    try:
        vocab = Vocab(tok.get("idx_to_token") or [], tok["mode"])
    except ValueError as exc:
        raise ModelPayloadError(str(exc)) from None
    v, h = p.get("vocab_size"), p.get("hidden")
    if v != len(vocab) or type(h) is not int or h < 1:
        raise ModelPayloadError("the vocabulary size or hidden size does not match the tokens")
    dtype = {"float32": "<f4", "float64": "<f8"}.get(p.get("dtype"))
    if dtype is None:
        raise ModelPayloadError(f"unknown dtype {p.get('dtype')!r}")
    want, out = shapes(convention, v, h), {}
    for n in names:
        entry = (p.get("tensors") or {}).get(n) or {}
        if entry.get("shape") != list(want[n]):
            raise ModelPayloadError(f"{n}: shape {entry.get('shape')}, expected {list(want[n])}")
        a = np.frombuffer(base64.b64decode(entry.get("data", "")), dtype=dtype)
        if a.size != int(np.prod(want[n])) or not np.isfinite(a).all():
            raise ModelPayloadError(f"{n}: wrong length or values that are not finite")
        out[n] = a.astype(np.float64).reshape(want[n])
    return out, vocab, convention
