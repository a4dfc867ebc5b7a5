"""The fast training step: the same equations, loss, clipping and SGD as `train.textbook_step`, without autograd.

Backpropagation through time is written out by hand; the sequential loops run in C++ when the extension is
built (`build_extension`) and in plain PyTorch otherwise (CPU without a build, CUDA, MPS), with equal results.
"""

from __future__ import annotations

import functools
import threading

import torch
from torch.nn import functional as F

from gru_viz.fast_ext import build_extension, fast_backend, load_extension, start_background_build
from gru_viz.model import FREE, PARAM_NAMES, Forcing, GRUScratch, Trace

__all__ = ["build_extension", "fast_backend", "fast_step", "fast_trace", "run_step", "start_background_build"]

# Fewer rows than this per block make the per-step matmuls too thin to pay for another core.
MIN_ROWS_PER_BLOCK = 8


# --- the model's weights in the layout the loops want, forcing as a table, reusable buffers ------------------


def _weights(model: GRUScratch, transposed: bool) -> dict[str, torch.Tensor]:
    p = {n: t.detach() for n, t in model.params().items()}
    w = {
        "w_x": torch.cat([p["W_xz"], p["W_xr"], p["W_xh"]], dim=1),
        "b": torch.cat([p["b_z"], p["b_r"], p["b_h"]]),
        "w_hzr": torch.cat([p["W_hz"], p["W_hr"]], dim=1),  # one matmul gives both gates' recurrent terms
        "w_hh": p["W_hh"].contiguous(),
        "w_hq": p["W_hq"],
        "b_q": p["b_q"],
    }
    if transposed:  # contiguous copies for the backward: BLAS was 1.5-3x slower on transposed operands here
        w["w_hzr_t"], w["w_hh_t"] = w["w_hzr"].T.contiguous(), w["w_hh"].T.contiguous()
    return w


def _force_table(forcing: Forcing, steps: int, hidden: int, start_step: int, like: torch.Tensor) -> torch.Tensor | None:
    """(steps, 2h) forced value of [Z | R] per step and unit, NaN where free; None when nothing is forced.

    Row i is time step start_step + i, so a forcing's step range stays absolute, as in GRUScratch.forward.
    """
    if not forcing.active:
        return None
    forcing.reset.check(hidden)
    forcing.update.check(hidden)
    table = torch.full((steps, 2 * hidden), float("nan"), dtype=like.dtype)
    t = torch.arange(start_step, start_step + steps)
    used = False
    for offset, gate in ((0, forcing.update), (hidden, forcing.reset)):
        if not gate.active:
            continue
        rows = torch.ones(steps, dtype=torch.bool) if gate.steps is None else (t >= gate.steps[0]) & (t < gate.steps[1])
        cols = torch.zeros(2 * hidden, dtype=torch.bool)
        cols[offset : offset + hidden] = gate.units is None
        if gate.units is not None:
            cols[[offset + u for u in gate.units]] = True
        mask = rows[:, None] & cols[None, :]
        used = used or bool(mask.any())
        table.masked_fill_(mask, gate.value)
    return table.to(like.device) if used else None


@functools.lru_cache(maxsize=16)
def _positions(B: int, T: int, blocks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The loops' order of the B*T (row, step) positions: block by block, then step by step, then row (the C++
    block_rows formula), so that each core's positions are contiguous. Returns, for every position, the flat
    index b*T + t of batch-major (B, T) data, and the positions of the last step's rows in row order.
    With one block this is d2l's time-major order."""
    base, extra = divmod(B, blocks)
    pieces, b0 = [], 0
    for k in range(blocks):
        nb = base + (k < extra)
        pieces.append(((b0 + torch.arange(nb))[None, :] * T + torch.arange(T)[:, None]).reshape(-1))
        b0 += nb
    order = torch.cat(pieces)
    where = torch.empty_like(order)
    where[order] = torch.arange(B * T)
    return order, where.view(B, T)[:, -1].clone()


_scratch = threading.local()


def _buffers(N: int, h: int, like: torch.Tensor, reuse: bool) -> dict[str, torch.Tensor]:
    """Outputs of the loops, one row per position. A training step reuses this thread's set while the shapes stay
    the same: fresh pages for these few megabytes on every step cost about a tenth of the step in page faults."""
    key = (N, h, like.dtype, like.device)
    if reuse and getattr(_scratch, "key", None) == key:
        return _scratch.buffers
    shapes = {"hs": (N, h), "zr": (N, 2 * h), "ht": (N, h), "rh": (N, h), "dh_out": (N, h), "da": (N, 3 * h),
              "w_hzr_t": (2 * h, h), "w_hh_t": (h, h), "dw_zr": (h, 2 * h), "dw_hh": (h, h)}
    buffers = {name: like.new_empty(shape) for name, shape in shapes.items()}
    if reuse:
        _scratch.key, _scratch.buffers = key, buffers
    return buffers


# --- the recurrence in PyTorch, time-major (csrc/gru_fast.cpp does the same, block by block) ------------------


def _forward_torch(gx: torch.Tensor, h0: torch.Tensor, w_hzr: torch.Tensor, w_hh: torch.Tensor,
                   force: torch.Tensor | None, hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor,
                   rh: torch.Tensor) -> None:
    """gx (T, B, 3h): gathered input rows plus biases; fills hs = H_t, zr = [Z | R], ht = H~ and rh, (T, B, .)."""
    h = ht.shape[2]
    free = None if force is None else torch.isnan(force)
    forced_steps = [False] * gx.shape[0] if force is None else (~free).any(dim=1).tolist()  # one sync in all
    # Per-step views made once: indexing inside the loop cost as much Python time as the arithmetic.
    hprev = [h0, *hs[:-1].unbind()]
    steps = zip(gx[..., : 2 * h].unbind(), gx[..., 2 * h :].unbind(), hprev, hs.unbind(), zr.unbind(),
                zr[..., :h].unbind(), zr[..., h:].unbind(), ht.unbind(), rh.unbind(), forced_steps)
    for t, (gx_zr, gx_h, hp, h_new, zr_t, z_t, r_t, ht_t, rh_t, forced) in enumerate(steps):
        torch.addmm(gx_zr, hp, w_hzr, out=zr_t).sigmoid_()
        if forced:
            zr_t.copy_(torch.where(free[t], zr_t, force[t]))  # forced entries are the constants themselves
        torch.mul(r_t, hp, out=rh_t)
        torch.addmm(gx_h, rh_t, w_hh, out=ht_t).tanh_()
        torch.lerp(ht_t, hp, z_t, out=h_new)  # H~ + Z*(H - H~) = Z*H + (1-Z)*H~, in one op


def _backward_torch(dh_out: torch.Tensor, h0: torch.Tensor, hs: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor,
                    w_hzr_t: torch.Tensor, w_hh_t: torch.Tensor, force: torch.Tensor | None, da: torch.Tensor) -> None:
    """Fills da (T, B, 3h) = dL/d(pre-activation) of [Z | R | H~], given dh_out = dL/dH_t from the output layer."""
    T, B, h = ht.shape
    hprev = torch.cat([h0.unsqueeze(0), hs[:-1]])
    z, r = zr[..., :h], zr[..., h:]
    # Everything that does not depend on the carried gradient, for all steps at once.
    gate_slope = zr * (1 - zr)  # sigmoid'
    if force is not None:
        gate_slope = gate_slope * torch.isnan(force).unsqueeze(1)  # a forced gate passes nothing to its weights
    cand_slope = (1 - z) * (1 - ht * ht)  # dH/dH~ times tanh'
    z_slope = hprev - ht  # dH/dZ
    da_zr, da_z, da_r, da_h = (da[..., : 2 * h], da[..., :h], da[..., h : 2 * h], da[..., 2 * h :])
    steps = list(zip(dh_out.unbind(), cand_slope.unbind(), z_slope.unbind(), gate_slope.unbind(), hprev.unbind(),
                     z.unbind(), r.unbind(), da_zr.unbind(), da_z.unbind(), da_r.unbind(), da_h.unbind()))
    carry = torch.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        dh_o, c_slope, zs, g_slope, hp, z_t, r_t, d_zr, d_z, d_r, d_h = steps[t]
        dh = dh_o + carry
        torch.mul(dh, c_slope, out=d_h)
        drh = d_h @ w_hh_t  # dL/d(R*H_{t-1})
        torch.mul(dh, zs, out=d_z)
        torch.mul(drh, hp, out=d_r)
        d_zr.mul_(g_slope)
        if t > 0:  # dL/dH_0 is not needed: the state entering a minibatch is detached
            carry = torch.addmm(torch.addcmul(dh * z_t, drh, r_t), d_zr, w_hzr_t)


def _blocks(batch: int, cpp: bool) -> int:
    """Row blocks for the C++ loops: one per thread, each at least MIN_ROWS_PER_BLOCK rows; PyTorch's loops use one."""
    return max(1, min(torch.get_num_threads(), batch // MIN_ROWS_PER_BLOCK)) if cpp else 1


def _use_cpp(backend: str | None, like: torch.Tensor) -> bool:
    """Whether the compiled loops run: they take CPU float32/float64 tensors and must have been built."""
    if backend not in (None, "cpp", "torch"):
        raise ValueError(f"backend must be 'cpp', 'torch' or None, got {backend!r}")
    supported = like.device.type == "cpu" and like.dtype in (torch.float32, torch.float64)
    if backend == "cpp":
        if not supported:
            raise ValueError("the C++ loops take CPU float32 or float64 tensors")
        if load_extension() is None:
            raise RuntimeError("the C++ fast path is not built: call gru_viz.fast.build_extension() first")
        return True
    return backend is None and supported and load_extension() is not None


def _forward(ids: torch.Tensor, h0: torch.Tensor, w: dict[str, torch.Tensor], force: torch.Tensor | None,
             blocks: int, cpp: bool, buf: dict[str, torch.Tensor], for_backward: bool = False) -> None:
    """ids (B*T) token ids in the loops' order (`_positions`); fills buf's hs, zr, ht and rh, and with
    for_backward the C++ loops also fill buf's transposed weights, which the backward needs."""
    B, h = h0.shape
    T = ids.numel() // B
    if cpp:
        empty = h0.new_empty((0,))
        load_extension().forward(ids, h0, w["w_x"], w["b"], w["w_hzr"], w["w_hh"], empty if force is None else force,
                                 blocks, buf["hs"], buf["zr"], buf["ht"], buf["rh"],
                                 *((buf["w_hzr_t"], buf["w_hh_t"]) if for_backward else (empty, empty)))
    else:
        gx = (w["w_x"].index_select(0, ids) + w["b"]).view(T, B, -1)  # one-hot @ W_x is a row gather
        _forward_torch(gx, h0, w["w_hzr"], w["w_hh"], force,
                       *(buf[k].view(T, B, -1) for k in ("hs", "zr", "ht", "rh")))


# --- the public steps ---------------------------------------------------------------------------------------


@torch.no_grad()
def run_step(model: GRUScratch, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float, clip: float,
             forcing: Forcing = FREE, backend: str | None = None) -> tuple[float, torch.Tensor]:
    """`fast_step` with the loops chosen: backend "cpp", "torch", or None for the best one available."""
    B, T = X.shape
    h, N = model.hidden, B * T
    cpp = _use_cpp(backend, model.W_hq)
    w = _weights(model, transposed=not cpp)  # the C++ forward transposes them itself, on all cores
    blocks = _blocks(B, cpp)
    order, last = (x.to(X.device) for x in _positions(B, T, blocks))
    ids, y = X.reshape(-1)[order].long(), Y.reshape(-1)[order]
    h0 = state.to(w["w_x"].dtype).contiguous()
    force = _force_table(forcing, T, h, 0, w["w_x"])  # textbook_step runs the model with start_step=0
    buf = _buffers(N, h, w["w_x"], reuse=True)
    _forward(ids, h0, w, force, blocks, cpp, buf, for_backward=True)
    H, da = buf["hs"], buf["da"]

    # Output layer and mean cross-entropy over all positions at once (their order does not matter to a mean).
    logits = torch.addmm(w["b_q"], H, w["w_hq"])
    log_p = F.log_softmax(logits, dim=1)
    loss = -log_p.gather(1, y.unsqueeze(1)).mean()
    d_logits = log_p.exp_()  # softmax
    d_logits.scatter_add_(1, y.unsqueeze(1), d_logits.new_full((N, 1), -1.0))  # minus the one-hot targets
    d_logits /= N
    dh_out = torch.mm(d_logits, w["w_hq"].T, out=buf["dh_out"])

    # Back through time; the recurrent weights' gradients as large products over all positions.
    if cpp:
        empty = h0.new_empty((0,))
        d_wx, d_b = torch.empty_like(w["w_x"]), torch.empty_like(w["b"])
        load_extension().backward(ids, dh_out, h0, H, buf["zr"], buf["ht"], buf["rh"], buf["w_hzr_t"], buf["w_hh_t"],
                                  empty if force is None else force, blocks, da, buf["dw_zr"], buf["dw_hh"], d_wx, d_b)
        d_whzr, d_whh = buf["dw_zr"], buf["dw_hh"]
    else:
        _backward_torch(dh_out.view(T, B, h), h0, H.view(T, B, h), buf["zr"].view(T, B, 2 * h),
                        buf["ht"].view(T, B, h), w["w_hzr_t"], w["w_hh_t"], force, da.view(T, B, 3 * h))
        d_whzr = torch.addmm(h0.T @ da[:B, : 2 * h], H[:-B].T, da[B:, : 2 * h])  # H_{t-1}: H_0, then H_1...
        d_whh = buf["rh"].T @ da[:, 2 * h :]
        d_wx = torch.zeros_like(w["w_x"]).index_add_(0, ids, da)  # X is one-hot: each position adds to one row
        d_b = da.sum(0)
    grads = {"W_xz": d_wx[:, :h], "W_xr": d_wx[:, h : 2 * h], "W_xh": d_wx[:, 2 * h :],
             "W_hz": d_whzr[:, :h], "W_hr": d_whzr[:, h:], "W_hh": d_whh,
             "W_hq": (d_logits.T @ H).T, "b_q": d_logits.sum(0)}  # (dl^T H)^T: 2x faster than H^T dl here
    grads["b_z"], grads["b_r"], grads["b_h"] = d_b.split(h)
    ordered = [grads[n] for n in PARAM_NAMES]

    # d2l's grad_clipping (one global norm, rescaled to θ when above it) and SGD, in place on the parameters.
    norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in ordered])))
    scale = lr * clip / norm if norm > clip else lr
    for name, g in zip(PARAM_NAMES, ordered):
        getattr(model, name).sub_(g, alpha=scale)
    return float(loss), H[last]  # the last step's rows, in row order (a copy: the buffers are reused)


def fast_step(model: GRUScratch, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float, clip: float,
              forcing: Forcing) -> tuple[float, torch.Tensor]:
    """One minibatch exactly as `textbook_step` (loss, clipped SGD update, new detached state), hand-derived."""
    return run_step(model, X, Y, state, lr, clip, forcing)


@torch.no_grad()
def fast_trace(model: GRUScratch, ids: torch.Tensor, forcing: Forcing = FREE, state: torch.Tensor | None = None,
               start_step: int = 0, backend: str | None = None) -> Trace:
    """The recording forward of `model(ids, state, forcing, record=True, start_step=...)`, for tracing texts fast.

    ids (batch, steps) token ids; state defaults to zeros, as `trace_text` uses.
    """
    w = _weights(model, transposed=False)
    B, T = ids.shape
    h = model.hidden
    h0 = (model.begin_state(B, w["w_x"].device) if state is None else state).to(w["w_x"].dtype).contiguous()
    buf = _buffers(B * T, h, w["w_x"], reuse=False)  # fresh: the trace keeps these tensors
    force = _force_table(forcing, T, h, start_step, w["w_x"])
    # One block: positions in time-major order, so the outputs are (T, B, .) views.
    _forward(ids.T.reshape(-1).long(), h0, w, force, 1, _use_cpp(backend, w["w_x"]), buf)
    hs, zr = buf["hs"].view(T, B, h), buf["zr"].view(T, B, 2 * h)
    logits = torch.addmm(w["b_q"], buf["hs"], w["w_hq"]).view(T, B, -1)
    return Trace(R=zr[..., h:].contiguous(), Z=zr[..., :h].contiguous(), H_tilde=buf["ht"].view(T, B, h), H=hs,
                 logits=logits, H0=h0)
