"""The fast path's loops in plain PyTorch: what runs without the C++ kernel (Community Cloud, CUDA, MPS).

The same recurrence and hand-written backward as csrc/gru_fast.cpp, time-major, with the per-step products on
the quickest kernel torch offers for their shape, and the loops compiled by TorchScript where it is available.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import List, Optional  # noqa: UP035 (TorchScript reads these annotations)

import torch

# Fewer rows than this per product: BLAS through addmm was quicker than oneDNN (a single row: 8 against 40 us).
ONEDNN_MIN_ROWS = 8


@functools.lru_cache(maxsize=1)
def onednn_available() -> bool:
    """Whether torch has oneDNN's linear kernel (the one torch.compile uses on CPU) and it agrees with BLAS here.

    On AMD EPYC its float32 products of 32x256x512 took half the time of MKL's sgemm (60 against 120 us, one
    thread), which on AMD runs without AVX-512. Off with GRU_VIZ_ONEDNN=0."""
    if os.environ.get("GRU_VIZ_ONEDNN", "1") == "0":
        return False
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        gen = torch.Generator().manual_seed(0)
        x, w, add = (torch.randn(shape, generator=gen) for shape in ((16, 24), (20, 24), (16, 20)))
        linear = torch.ops.mkldnn._linear_pointwise
        return bool(torch.allclose(linear.binary(x, add, w, None, "add"), torch.addmm(add, x, w.T), atol=1e-5)
                    and torch.allclose(linear(x, w, None, "none", [], ""), x @ w.T, atol=1e-5))
    except Exception:  # an older or newer torch without the op, or a build without oneDNN: BLAS it is
        return False


def use_onednn(like: torch.Tensor, rows: int) -> bool:
    """oneDNN for float32 CPU products of ONEDNN_MIN_ROWS rows or more (it has no float64 kernel)."""
    return like.device.type == "cpu" and like.dtype == torch.float32 and rows >= ONEDNN_MIN_ROWS and onednn_available()


def operand(m: torch.Tensor, onednn: bool) -> torch.Tensor:
    """The right-hand matrix M of x @ M in the layout the kernel takes: oneDNN wants M^T (a Linear's weight),
    BLAS a contiguous M (a transposed view was 1.5-3x slower here)."""
    return m.T.contiguous() if onednn else m.contiguous()


def matmul(x: torch.Tensor, m: torch.Tensor, onednn: bool) -> torch.Tensor:
    """x @ M, M as `operand` laid it out."""
    return torch.ops.mkldnn._linear_pointwise(x, m, None, "none", [], "") if onednn else torch.mm(x, m)


def forward_loop(gx_zr: torch.Tensor, gx_h: torch.Tensor, h0: torch.Tensor, w_zr: torch.Tensor,
                 w_h: torch.Tensor, keep: Optional[torch.Tensor], forced: Optional[torch.Tensor],  # noqa: UP045
                 forced_steps: List[bool], onednn: bool,  # noqa: UP006
                 hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor, rh: torch.Tensor) -> None:
    """gx_zr (T, B, 2h) and gx_h (T, B, h): gathered input rows plus biases; w_zr, w_h: W_hzr and W_hh as
    `operand` laid them out; keep and forced (T, 2h): `forcing_tables`. Fills hs = H_t, zr = [Z | R], ht = H~ and
    rh = R*H_{t-1}, (T, B, .)."""
    h = h0.size(1)
    hp = h0
    zr_steps: List[torch.Tensor] = []  # noqa: UP006
    ht_steps: List[torch.Tensor] = []  # noqa: UP006
    for t in range(gx_zr.size(0)):
        if onednn:  # input rows added inside the product's kernel; results collected, copied once at the end
            zr_t = torch.ops.mkldnn._linear_pointwise.binary(hp, gx_zr[t], w_zr, None, "add")
            zr_steps.append(zr_t)
        else:
            zr_t = torch.addmm(gx_zr[t], hp, w_zr, out=zr[t])
        zr_t.sigmoid_()
        if forced_steps[t] and keep is not None and forced is not None:  # Z*1 + 0 or Z*0 + c, exactly, in one op
            torch.addcmul(forced[t], zr_t, keep[t], out=zr_t)
        rh_t = torch.mul(zr_t[:, h:], hp, out=rh[t])
        if onednn:
            ht_t = torch.ops.mkldnn._linear_pointwise.binary(rh_t, gx_h[t], w_h, None, "add")
            ht_steps.append(ht_t)
        else:
            ht_t = torch.addmm(gx_h[t], rh_t, w_h, out=ht[t])
        ht_t.tanh_()
        hp = torch.lerp(ht_t, hp, zr_t[:, :h], out=hs[t])  # H~ + Z*(H - H~) = Z*H + (1-Z)*H~, in one op
    if onednn:
        torch.stack(zr_steps, out=zr)
        torch.stack(ht_steps, out=ht)


def forward_steps(gx_zr: List[torch.Tensor], gx_h: List[torch.Tensor], h0: torch.Tensor, w_zr: torch.Tensor,  # noqa: UP006
                  w_h: torch.Tensor, keep: List[torch.Tensor], forced: List[torch.Tensor],  # noqa: UP006
                  forced_steps: List[bool], hs: List[torch.Tensor], zr: List[torch.Tensor],  # noqa: UP006
                  z: List[torch.Tensor], r: List[torch.Tensor], ht: List[torch.Tensor],  # noqa: UP006
                  rh: List[torch.Tensor]) -> None:  # noqa: UP006
    """`forward_loop` with BLAS, on per-step views made once (`unbind`): with a single row (a traced text) each
    step's work is a few microseconds, and indexing a tensor inside the loop cost about as much as the arithmetic."""
    hp = h0
    for t in range(len(gx_zr)):
        zr_t = torch.addmm(gx_zr[t], hp, w_zr, out=zr[t]).sigmoid_()
        if forced_steps[t]:
            torch.addcmul(forced[t], zr_t, keep[t], out=zr_t)
        rh_t = torch.mul(r[t], hp, out=rh[t])
        ht_t = torch.addmm(gx_h[t], rh_t, w_h, out=ht[t]).tanh_()
        hp = torch.lerp(ht_t, hp, z[t], out=hs[t])


def run_forward(gx_zr: torch.Tensor, gx_h: torch.Tensor, h0: torch.Tensor, w_zr: torch.Tensor, w_h: torch.Tensor,
                keep: torch.Tensor | None, forced: torch.Tensor | None, forced_steps: list[bool], onednn: bool,
                hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor, rh: torch.Tensor) -> None:
    """The forward recurrence on the kernel chosen (arguments as `forward_loop`'s)."""
    if onednn:
        forward_loop(gx_zr, gx_h, h0, w_zr, w_h, keep, forced, forced_steps, True, hs, zr, ht, rh)
        return
    h = h0.shape[1]
    keep_steps = [] if keep is None else list(keep.unbind())
    forced_values = [] if forced is None else list(forced.unbind())
    compiled_steps()(list(gx_zr.unbind()), list(gx_h.unbind()), h0, w_zr, w_h, keep_steps, forced_values, forced_steps,
                     list(hs.unbind()), list(zr.unbind()), list(zr[..., :h].unbind()), list(zr[..., h:].unbind()),
                     list(ht.unbind()), list(rh.unbind()))


def backward_loop(dh_out: torch.Tensor, h0: torch.Tensor, hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor,
                  w_zr_t: torch.Tensor, w_h_t: torch.Tensor, keep: Optional[torch.Tensor], onednn: bool,  # noqa: UP045
                  da_zr: torch.Tensor, da_h: torch.Tensor) -> None:
    """Fills da_zr (T, B, 2h) and da_h (T, B, h) = dL/d(pre-activation) of [Z | R] and of H~, given
    dh_out = dL/dH_t from the output layer; w_zr_t, w_h_t: W_hzr^T and W_hh^T as `operand` laid them out."""
    T = ht.size(0)
    h = ht.size(2)
    hprev = torch.cat([h0.unsqueeze(0), hs[:-1]])
    z = zr[:, :, :h]
    r = zr[:, :, h:]
    # Everything that does not depend on the carried gradient, for all steps at once.
    gate_slope = zr * (1 - zr)  # sigmoid'
    if keep is not None:
        gate_slope = gate_slope * keep.unsqueeze(1)  # a forced gate passes nothing to its weights
    cand_slope = (1 - z) * (1 - ht * ht)  # dH/dH~ times tanh'
    z_slope = (hprev - ht) * gate_slope[:, :, :h]  # dH/dZ times sigmoid'
    r_slope = hprev * gate_slope[:, :, h:]  # d(R*H_{t-1})/dR times sigmoid'
    dh = dh_out[T - 1]
    for i in range(T):
        t = T - 1 - i
        d_h = torch.mul(dh, cand_slope[t], out=da_h[t])
        if onednn:
            drh = torch.ops.mkldnn._linear_pointwise(d_h, w_h_t, None, "none", [], "")  # dL/d(R*H_{t-1})
        else:
            drh = torch.mm(d_h, w_h_t)
        torch.mul(dh, z_slope[t], out=da_zr[t, :, :h])
        torch.mul(drh, r_slope[t], out=da_zr[t, :, h:])
        if t > 0:  # dL/dH_0 is not needed: the state entering a minibatch is detached
            carry = torch.addcmul(dh_out[t - 1], dh, z[t]).addcmul_(drh, r[t])
            if onednn:
                dh = torch.ops.mkldnn._linear_pointwise.binary(da_zr[t], carry, w_zr_t, None, "add")
            else:
                dh = torch.addmm(carry, da_zr[t], w_zr_t)


def forcing_tables(force: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None, list[bool] | None]:
    """From the (T, 2h) table with NaN where free: keep (1 free, 0 forced), forced (the constant, 0 where free) and
    which steps force anything; Nones without forcing."""
    if force is None:
        return None, None, None
    free = torch.isnan(force)
    return free.to(force.dtype), force.nan_to_num(0.0), (~free).any(dim=1).tolist()  # one sync in all


def _compiled(fn: Callable) -> Callable:
    """fn compiled by TorchScript, else fn itself (where a torch release no longer compiles it: same results)."""
    if os.environ.get("GRU_VIZ_TORCHSCRIPT", "1") == "0":
        return fn
    try:
        with warnings.catch_warnings():  # deprecated for torch.compile, whose minute-long cold start does not fit
            warnings.simplefilter("ignore")
            return torch.jit.script(fn)
    except Exception:
        return fn


@functools.lru_cache(maxsize=1)
def compiled_steps() -> Callable:
    """`forward_steps` compiled by TorchScript, once per process on first use (about 0.1 s). The BLAS loops run
    small operations (a traced text has one row), where the interpreter's time between them counts: TorchScript
    traced 1,000 characters in about two thirds of the time. With oneDNN (training blocks) the products dominate
    and TorchScript was slower here, so those loops run as they are."""
    return _compiled(forward_steps)


@functools.lru_cache(maxsize=1)
def compiled_backward() -> Callable:
    return _compiled(backward_loop)


def run_backward(*args, onednn: bool) -> None:
    """`backward_loop(*args)` on the kernel chosen: compiled with BLAS, as it is with oneDNN."""
    (backward_loop if onednn else compiled_backward())(*args[:8], onednn, *args[8:])
