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
    """Whether torch has oneDNN's linear kernel (the one torch.compile uses on CPU), with weights reordered ahead,
    and it agrees with BLAS here.

    On AMD EPYC its float32 products of 32x256x512 took half the time of MKL's sgemm (60 against 120 us, one
    thread), which on AMD runs without AVX-512. Off with GRU_VIZ_ONEDNN=0."""
    if os.environ.get("GRU_VIZ_ONEDNN", "1") == "0":
        return False
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        gen = torch.Generator().manual_seed(0)
        x, w, add = (torch.randn(shape, generator=gen) for shape in ((16, 24), (20, 24), (16, 20)))
        linear, packed = torch.ops.mkldnn._linear_pointwise, torch.ops.mkldnn._reorder_linear_weight(w, 16)
        return bool(torch.allclose(linear.binary(x, add, packed, None, "add"), torch.addmm(add, x, w.T), atol=1e-5)
                    and torch.allclose(linear(x, packed, None, "none", [], ""), x @ w.T, atol=1e-5)
                    and torch.allclose(linear(x.T, add.T, None, "none", [], ""), x.T @ add, atol=1e-5))
    except Exception:  # an older or newer torch without the ops, or a build without oneDNN: BLAS it is
        return False


def use_onednn(like: torch.Tensor, rows: int) -> bool:
    """oneDNN for float32 CPU products of ONEDNN_MIN_ROWS rows or more (it has no float64 kernel)."""
    return like.device.type == "cpu" and like.dtype == torch.float32 and rows >= ONEDNN_MIN_ROWS and onednn_available()


def operand(m: torch.Tensor, onednn: bool, rows: int) -> torch.Tensor:
    """The right-hand matrix M of x @ M, for many products of `rows` rows, in the layout the kernel takes: for
    oneDNN M^T (a Linear's weight) reordered once into its blocked layout, which each product would otherwise
    redo (32x256x512: 50 against 60 us); for BLAS a contiguous M (a transposed view was 1.5-3x slower here)."""
    return torch.ops.mkldnn._reorder_linear_weight(m.T.contiguous(), rows) if onednn else m.contiguous()


def linear(x: torch.Tensor, m: torch.Tensor, bias: torch.Tensor | None, onednn: bool,
           out: torch.Tensor | None = None) -> torch.Tensor:
    """x @ M (+ bias), once: oneDNN with M^T as its weight (the output layer's three products, 1120x256x28, took
    0.30 ms against 0.57 with BLAS here), else BLAS, into `out` where given."""
    if onednn:
        return torch.ops.mkldnn._linear_pointwise(x, m.T.contiguous(), bias, "none", [], "")
    if bias is None:
        return torch.mm(x, m, out=out) if out is not None else torch.mm(x, m)
    return torch.addmm(bias, x, m, out=out) if out is not None else torch.addmm(bias, x, m)


def matmul_tn(a: torch.Tensor, b: torch.Tensor, onednn: bool, room: torch.Tensor | None = None) -> torch.Tensor:
    """a^T @ b (a: (N, m), b: (N, n)), for the weights' gradients summed over all N positions. oneDNN wants a^T
    contiguous, copied into `room` (m, N) where given (its own copy into fresh memory took 0.5 ms for 256x1120
    here, into reused memory 0.1), and reads b^T as it is."""
    if not onednn:
        return torch.mm(a.T, b)
    a_t = a.T.contiguous() if room is None else room.copy_(a.T)
    return torch.ops.mkldnn._linear_pointwise(a_t, b.T, None, "none", [], "")


def forward_loop(gx_zr: torch.Tensor, gx_h: torch.Tensor, h0: torch.Tensor, w_zr: torch.Tensor,
                 w_h: torch.Tensor, keep: Optional[torch.Tensor], forced: Optional[torch.Tensor],  # noqa: UP045
                 forced_steps: List[bool], onednn: bool,  # noqa: UP006
                 hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor, rh: torch.Tensor,
                 cand_in: Optional[torch.Tensor] = None, b_h: Optional[torch.Tensor] = None) -> None:  # noqa: UP045
    """gx_zr (T, B, 2h) and gx_h (T, B, h): gathered input rows plus biases; w_zr, w_h: W_hzr and W_hh as
    `operand` laid them out; keep and forced (T, 2h): `forcing_tables`. Fills hs = H_t, zr = [Z | R], ht = H~ and
    rh = R*H_{t-1}, (T, B, .). With cand_in (T, B, h+V) = [R*H_{t-1} | one-hot X_t] (rh a view of its first h
    columns), w_h = [W_hh; W_xh] and b_h, the candidate is one oneDNN call with tanh inside and gx_h is unused."""
    h = h0.size(1)
    hp = h0
    fused = cand_in is not None
    cand_steps = cand_in.unbind() if cand_in is not None else ht.unbind()
    steps = zip(gx_zr.unbind(), gx_h.unbind() if not fused else ht.unbind(), hs.unbind(), zr.unbind(), ht.unbind(),
                rh.unbind(), cand_steps)  # views, once
    for t, (gx_zr_t, gx_h_t, hs_t, zr_t, ht_t, rh_t, cand_t) in enumerate(steps):
        if onednn:  # the input rows are added inside the product's kernel
            torch.sigmoid(torch.ops.mkldnn._linear_pointwise(hp, gx_zr_t, w_zr, None, "add"), out=zr_t)
        else:
            torch.addmm(gx_zr_t, hp, w_zr, out=zr_t).sigmoid_()
        if forced_steps[t] and keep is not None and forced is not None:  # Z*1 + 0 or Z*0 + c, exactly, in one op
            torch.addcmul(forced[t], zr_t, keep[t], out=zr_t)
        torch.mul(zr_t[:, h:], hp, out=rh_t)
        if fused:  # torch's tanh of 32x256 took 18 us here, oneDNN's inside the product about 1
            ht_t.copy_(torch.ops.mkldnn._linear_pointwise(cand_t, w_h, b_h, "tanh", [], ""))
        elif onednn:
            torch.tanh(torch.ops.mkldnn._linear_pointwise(rh_t, gx_h_t, w_h, None, "add"), out=ht_t)
        else:
            torch.addmm(gx_h_t, rh_t, w_h, out=ht_t).tanh_()
        hp = torch.lerp(ht_t, hp, zr_t[:, :h], out=hs_t)  # H~ + Z*(H - H~) = Z*H + (1-Z)*H~, in one op


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
                hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor, rh: torch.Tensor,
                cand_in: torch.Tensor | None = None, b_h: torch.Tensor | None = None) -> None:
    """The forward recurrence on the kernel chosen (arguments as `forward_loop`'s)."""
    if onednn:
        compiled_forward()(gx_zr, gx_h, h0, w_zr, w_h, keep, forced, forced_steps, True, hs, zr, ht, rh, cand_in, b_h)
        return
    h = h0.shape[1]
    keep_steps = [] if keep is None else list(keep.unbind())
    forced_values = [] if forced is None else list(forced.unbind())
    compiled_steps()(list(gx_zr.unbind()), list(gx_h.unbind()), h0, w_zr, w_h, keep_steps, forced_values, forced_steps,
                     list(hs.unbind()), list(zr.unbind()), list(zr[..., :h].unbind()), list(zr[..., h:].unbind()),
                     list(ht.unbind()), list(rh.unbind()))


def backward_loop(dh_out: torch.Tensor, hprev: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor,
                  w_zr_t: torch.Tensor, w_h_t: torch.Tensor, keep: Optional[torch.Tensor], onednn: bool,  # noqa: UP045
                  da_zr: torch.Tensor, da_h: torch.Tensor, slope: torch.Tensor, cand: torch.Tensor,
                  diff: torch.Tensor) -> None:
    """Fills da_zr (T, B, 2h) and da_h (T, B, h) = dL/d(pre-activation) of [Z | R] and of H~, given
    dh_out = dL/dH_t from the output layer and hprev = H_{t-1}; w_zr_t, w_h_t: W_hzr^T and W_hh^T as `operand`
    laid them out. slope (T, B, 2h), cand and diff (T, B, h): room for the factors below."""
    T = ht.size(0)
    h = ht.size(2)
    z = zr[:, :, :h]
    # Everything that does not depend on the carried gradient, for all steps at once, in few passes over memory
    # that is reused (fresh pages for these megabytes cost more than the arithmetic).
    torch.addcmul(zr, zr, zr, value=-1.0, out=slope)  # sigmoid' = s - s*s
    if keep is not None:
        slope.mul_(keep.unsqueeze(1))  # a forced gate passes nothing to its weights
    torch.addcmul(torch.ones_like(ht[0, 0, 0]), ht, ht, value=-1.0, out=cand)  # tanh' = 1 - H~*H~
    cand.addcmul_(z, cand, value=-1.0)  # times dH/dH~ = 1 - Z
    z_slope = torch.sub(hprev, ht, out=diff).mul_(slope[:, :, :h]).unbind()  # dH/dZ times sigmoid'
    r_slope = slope[:, :, h:].mul_(hprev).unbind()  # d(R*H_{t-1})/dR times sigmoid'
    cand_slope = cand.unbind()
    z_steps, r_steps, d_out = z.unbind(), zr[:, :, h:].unbind(), dh_out.unbind()
    da_zr_steps, da_h_steps = da_zr.unbind(), da_h.unbind()
    da_z, da_r = da_zr[:, :, :h].unbind(), da_zr[:, :, h:].unbind()
    dh = d_out[T - 1]
    for i in range(T):
        t = T - 1 - i
        d_h = torch.mul(dh, cand_slope[t], out=da_h_steps[t])
        if onednn:
            drh = torch.ops.mkldnn._linear_pointwise(d_h, w_h_t, None, "none", [], "")  # dL/d(R*H_{t-1})
        else:
            drh = torch.mm(d_h, w_h_t)
        torch.mul(dh, z_slope[t], out=da_z[t])
        torch.mul(drh, r_slope[t], out=da_r[t])
        if t > 0:  # dL/dH_0 is not needed: the state entering a minibatch is detached
            carry = torch.addcmul(d_out[t - 1], dh, z_steps[t]).addcmul_(drh, r_steps[t])
            if onednn:
                dh = torch.ops.mkldnn._linear_pointwise(da_zr_steps[t], carry, w_zr_t, None, "add")
            else:
                dh = torch.addmm(carry, da_zr_steps[t], w_zr_t)


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
    """`forward_steps` compiled by TorchScript, once per process on first use (about 0.1 s). The loops run small
    operations (a traced text has one row, a training block 32), where the interpreter's time between them
    counts: TorchScript traced 1,000 characters in about two thirds of the time."""
    return _compiled(forward_steps)


@functools.lru_cache(maxsize=1)
def compiled_forward() -> Callable:
    """`forward_loop` compiled: with oneDNN's products it trained 14 % faster than run as it is (13.5 against
    15.4 ms a step of 32x35 characters here)."""
    return _compiled(forward_loop)


@functools.lru_cache(maxsize=1)
def compiled_backward() -> Callable:
    return _compiled(backward_loop)


def run_backward(*args, onednn: bool) -> None:
    """`backward_loop(*args)`, compiled, on the kernel chosen."""
    compiled_backward()(*args[:7], onednn, *args[7:])
