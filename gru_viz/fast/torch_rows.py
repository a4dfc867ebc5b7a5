"""The fast path's loops in plain PyTorch: what runs without the C++ kernel (Community Cloud, CUDA, MPS).

The same recurrence and hand-written backward as csrc/gru_fast.cpp, time-major, with the per-step products on
the quickest kernel torch offers for their shape, and the loops compiled by TorchScript where it is available.
"""

from __future__ import annotations

import functools
import logging
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
    return torch.ops.mkldnn._reorder_linear_weight(m.T, rows) if onednn else m.contiguous()


def linear(x: torch.Tensor, m: torch.Tensor, bias: torch.Tensor | None, onednn: bool,
           out: torch.Tensor | None = None) -> torch.Tensor:
    """x @ M (+ bias), once: oneDNN with M^T as its weight (the output layer's three products, 1120x256x28, took
    0.30 ms against 0.57 with BLAS here), else BLAS, into `out` where given."""
    if onednn:
        return torch.ops.mkldnn._linear_pointwise(x, m.T.contiguous(), bias, "none", [], "")
    return torch.mm(x, m, out=out) if bias is None else torch.addmm(bias, x, m, out=out)


def matmul_tn(a: torch.Tensor, b: torch.Tensor, onednn: bool, room: torch.Tensor | None = None) -> torch.Tensor:
    """a^T @ b (a: (N, m), b: (N, n)), for the weights' gradients summed over all N positions. oneDNN reads b^T as
    it is but wants a^T contiguous: copying it is still quicker than BLAS reading both as they are (256x1120x512:
    1.3-1.6 against 2.7 ms here). room: an (m, N) tensor to copy a^T into, reused from step to step: a fresh
    megabyte's page faults made that copy take 590 us in a training step instead of 110."""
    if not onednn:
        return torch.mm(a.T, b)
    a_t = a.T.contiguous() if room is None else room.copy_(a.T)
    return torch.ops.mkldnn._linear_pointwise(a_t, b.T, None, "none", [], "")


def forward_loop(h0: torch.Tensor, w_zr: torch.Tensor, w_h: torch.Tensor, force_rows: Optional[torch.Tensor],  # noqa: UP045
                 force_of_step: List[int], whole_rows: List[bool], onednn: bool, hs: torch.Tensor,  # noqa: UP006
                 zr: torch.Tensor, ht: torch.Tensor, rh: torch.Tensor) -> None:
    """The forward recurrence over (T, B, .) tensors. On entry zr holds each step's input term X_t W_x[z|r] + b_[z|r]
    and ht X_t W_xh + b_h; on return zr = [Z | R], ht = H~, hs = H_t and rh = R*H_{t-1}. w_zr, w_h: W_hzr and
    W_hh as `operand` laid them out. force_rows (K, 2, 2h) and force_of_step: fast's `ForceRows` (row 0: free);
    whole_rows[k]: row k forces every gate of every unit. (Training with oneDNN and a small vocabulary takes
    fast_fm's feature-major step instead, which also runs tanh inside the candidate's product.)"""
    h = h0.size(1)
    hp = h0
    # Each step's views made once, inside the compiled loop (made in Python, 1,000 steps' views took about 5 ms).
    zr_steps, ht_steps, hs_steps, rh_steps = zr.unbind(), ht.unbind(), hs.unbind(), rh.unbind()
    keeps, values = (force_rows[:, 0].unbind(), force_rows[:, 1].unbind()) if force_rows is not None else ([], [])
    for t in range(len(zr_steps)):
        zr_t, ht_t = zr_steps[t], ht_steps[t]
        k = force_of_step[t]
        if k > 0 and whole_rows[k]:  # every gate of every unit forced: nothing to compute
            zr_t.copy_(values[k])
        else:
            if onednn:  # the input term is added inside the product's kernel
                torch.sigmoid(torch.ops.mkldnn._linear_pointwise(hp, zr_t, w_zr, None, "add"), out=zr_t)
            else:  # in place: addmm into another tensor first copies the input term there
                zr_t.addmm_(hp, w_zr).sigmoid_()
            if k > 0:  # Z*1 + 0 or Z*0 + c, exactly, in one op
                torch.addcmul(values[k], zr_t, keeps[k], out=zr_t)
        rh_t = torch.mul(zr_t[:, h:], hp, out=rh_steps[t])
        if onednn:
            torch.tanh(torch.ops.mkldnn._linear_pointwise(rh_t, ht_t, w_h, None, "add"), out=ht_t)
        else:
            ht_t.addmm_(rh_t, w_h).tanh_()
        hp = torch.lerp(ht_t, hp, zr_t[:, :h], out=hs_steps[t])  # H~ + Z*(H - H~) = Z*H + (1-Z)*H~, in one op


def gate_slopes(zr: torch.Tensor, free_zr: Optional[torch.Tensor], keep: Optional[torch.Tensor],  # noqa: UP045
                keep_dim: int, ht: torch.Tensor, z: torch.Tensor, slope: torch.Tensor, cand: torch.Tensor) -> None:
    """The backward's factors that do not depend on the carried gradient, for all steps at once, into slope (σ' of
    the gates, times keep) and cand (tanh' of H~, times 1 - Z); both layouts (row- and feature-major) call it, keep
    (T, 2h) spread along keep_dim of their batch axis."""
    if free_zr is None:
        torch.addcmul(zr, zr, zr, value=-1.0, out=slope)  # sigmoid' = s - s*s
    else:  # a blended gate (1 - s)*free + s*value: sigmoid' of the free gate, times keep = 1 - s below
        torch.addcmul(free_zr, free_zr, free_zr, value=-1.0, out=slope)
    if keep is not None:
        slope.mul_(keep.unsqueeze(keep_dim))  # a forced gate passes nothing (s = 1) or 1 - s to its weights
    torch.addcmul(torch.ones_like(ht[0, 0, 0]), ht, ht, value=-1.0, out=cand)  # tanh' = 1 - H~*H~
    cand.addcmul_(z, cand, value=-1.0)  # times dH/dH~ = 1 - Z


def backward_loop(dh_out: torch.Tensor, hprev: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor,
                  w_zr_t: torch.Tensor, w_h_t: torch.Tensor, keep: Optional[torch.Tensor],  # noqa: UP045
                  gates_forced: List[bool], onednn: bool, da_zr: torch.Tensor, da_h: torch.Tensor,  # noqa: UP006
                  slope: torch.Tensor, cand: torch.Tensor, diff: torch.Tensor,
                  free_zr: Optional[torch.Tensor] = None) -> None:  # noqa: UP045
    """Fills da_zr (T, B, 2h) and da_h (T, B, h) = dL/d(pre-activation) of [Z | R] and of H~, given
    dh_out = dL/dH_t from the output layer and hprev = H_{t-1}; w_zr_t, w_h_t: W_hzr^T and W_hh^T as `operand`
    laid them out; gates_forced[t] (or empty): every gate of every unit is forced at step t, so no gradient
    passes through them and their product is skipped. slope (T, B, 2h), cand and diff (T, B, h): room for the
    factors below. free_zr: below full forcing strength, the free gates behind zr's blended ones (σ' is theirs)."""
    T = ht.size(0)
    h = ht.size(2)
    z = zr[:, :, :h]
    # Everything that does not depend on the carried gradient, for all steps at once, in few passes over memory
    # that is reused (fresh pages for these megabytes cost more than the arithmetic).
    gate_slopes(zr, free_zr, keep, 1, ht, z, slope, cand)
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
        skip = len(gates_forced) > 0 and gates_forced[t]
        if skip:
            da_zr_steps[t].zero_()
        else:
            torch.mul(dh, z_slope[t], out=da_z[t])
            torch.mul(drh, r_slope[t], out=da_r[t])
        if t > 0:  # dL/dH_0 is not needed: the state entering a minibatch is detached
            carry = torch.addcmul(d_out[t - 1], dh, z_steps[t]).addcmul_(drh, r_steps[t])
            if skip:
                dh = carry
            elif onednn:
                dh = torch.ops.mkldnn._linear_pointwise(da_zr_steps[t], carry, w_zr_t, None, "add")
            else:
                dh = torch.addmm(carry, da_zr_steps[t], w_zr_t)


def _compiled(fn: Callable) -> Callable:
    """fn compiled by TorchScript, else fn itself (where a torch release no longer compiles it: same results,
    slower, and said once in the server's log)."""
    if os.environ.get("GRU_VIZ_TORCHSCRIPT", "1") == "0":
        return fn
    try:
        with warnings.catch_warnings():  # deprecated for torch.compile, whose minute-long cold start does not fit
            warnings.simplefilter("ignore")
            return torch.jit.script(fn)
    except Exception as exc:
        logging.getLogger(__name__).warning("TorchScript could not compile %s (%s): it runs uncompiled",
                                            fn.__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        return fn


@functools.lru_cache(maxsize=1)
def compiled_forward() -> Callable:
    """`forward_loop` compiled by TorchScript, once per process on first use (about 0.1 s). Its operations are
    small (a traced text has one row, a training block 32), so the interpreter's time between them counts:
    compiled, training ran 14 % faster with oneDNN's products here, and 1,000 characters traced in 17 ms, not 21-23."""
    return _compiled(forward_loop)


@functools.lru_cache(maxsize=1)
def compiled_backward() -> Callable:
    return _compiled(backward_loop)


def run_forward(*args, onednn: bool) -> None:
    """`forward_loop(*args)`, compiled, on the kernel chosen."""
    compiled_forward()(*args[:6], onednn, *args[6:])


def run_backward(*args, onednn: bool) -> None:
    """`backward_loop(*args)`, compiled, on the kernel chosen."""
    compiled_backward()(*args[:8], onednn, *args[8:])
