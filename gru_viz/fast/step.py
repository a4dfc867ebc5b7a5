"""The fast training step: the same equations, loss, clipping and SGD as `train.textbook_step`, without autograd.

Backpropagation through time is written out by hand, on one of the named sets of loops (`choice.LOOPS`: the C++
kernel, PyTorch feature-major, PyTorch row-major, or the textbook itself); `choice.choose_loops` picks which.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from gru_viz.fast import choice
from gru_viz.fast import torch_fm as fast_fm
from gru_viz.fast.ext import load_extension
from gru_viz.fast.force_rows import ForceRows, _force_rows, _force_table, _strength, free_gates
from gru_viz.fast.rooms import Rooms
from gru_viz.fast.torch_rows import linear, matmul_tn, operand, run_backward, run_forward, use_onednn
from gru_viz.nets.model import FREE, PARAM_NAMES, Forcing, GRUScratch, Trace
from gru_viz.train.textbook import textbook_step

__all__ = ["fast_step", "fast_trace", "run_step"]

# Fewer rows than this per block make the per-step matmuls too thin to pay for another core.
MIN_ROWS_PER_BLOCK = 8
# The parameters that multiply the one-hot input: a minibatch gives a gradient only to its tokens' rows.
INPUT_WEIGHTS = ("W_xz", "W_xr", "W_xh")


# --- the model's weights in the layout the loops want, forcing as rows, reusable buffers ---------------------


def _weights(model: GRUScratch, cpp: bool) -> dict[str, torch.Tensor]:
    p = {n: t.detach() for n, t in model.params().items()}
    # The C++ kernel takes the input weights as one (V, 3h) matrix; the PyTorch loops gather rows of each (at a
    # raw vocabulary of 3,000 characters that copy alone took 3.5 ms a step).
    inputs = {"w_x": torch.cat([p["W_xz"], p["W_xr"], p["W_xh"]], dim=1)} if cpp else {
        "w_xz": p["W_xz"], "w_xr": p["W_xr"], "w_xh": p["W_xh"]}
    return inputs | {
        "b": torch.cat([p["b_z"], p["b_r"], p["b_h"]]),
        "w_hzr": torch.cat([p["W_hz"], p["W_hr"]], dim=1),  # one matmul gives both gates' recurrent terms
        "w_hh": p["W_hh"].contiguous(),
        "w_hq": p["W_hq"],
        "b_q": p["b_q"],
    }


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


_ROOMS = Rooms()


def _buffers(B: int, T: int, h: int, like: torch.Tensor, reuse: bool, cpp: bool,
             backward: bool = True, vocab: int = 0) -> dict[str, torch.Tensor]:
    """Room for the loops, one row per position. A training step reuses this thread's set while the shapes stay
    the same (rooms.Rooms); a trace gets fresh ones, since it keeps them."""
    N = B * T
    # hx: H_0 (the state entering the minibatch), then H_1...H_T: H_{t-1} and H_t are both views of it
    shapes = {"hx": (N + B, h), "zr": (N, 2 * h), "ht": (N, h), "rh": (N, h)}
    if backward:  # dL/dH_t from the output layer, and room for dL/dlogits^T (W_hq's gradient)
        shapes |= {"dh_out": (N, h), "dl_t": (vocab, N)}
    if cpp:  # its backward fills one (N, 3h) block and transposes the weights itself, on all cores
        shapes |= {"da": (N, 3 * h), "w_hzr_t": (2 * h, h), "w_hh_t": (h, h), "dw_zr": (h, 2 * h), "dw_hh": (h, h)}
    elif backward:  # the backward's factors and products, reused like the rest; room for H_{t-1}^T and (R*H)^T
        shapes |= {"da_zr": (N, 2 * h), "da_h": (N, h), "slope": (N, 2 * h), "cand": (N, h), "diff": (N, h),
                   "h_t": (h, N)}

    def make() -> dict[str, torch.Tensor]:
        buffers = {name: like.new_empty(shape) for name, shape in shapes.items()}
        buffers["hs"] = buffers["hx"][B:]
        return buffers

    return _ROOMS.get((B, T, h, like.dtype, like.device, cpp, backward, vocab), make) if reuse else make()


def _blocks(batch: int, cpp: bool) -> int:
    """Row blocks for the C++ loops: one per thread, each at least MIN_ROWS_PER_BLOCK rows; PyTorch's loops use one."""
    return max(1, min(torch.get_num_threads(), batch // MIN_ROWS_PER_BLOCK)) if cpp else 1


def _check(loops: str, like: torch.Tensor, vocab: int, batch: int, strength: float = 1.0) -> None:
    """Raise when the loops asked for cannot run these tensors here (the reason from `choice.why_not`)."""
    shapes = choice.Shapes(like.device.type, str(like.dtype).removeprefix("torch."), vocab, batch, 1, 1)
    why = choice.why_not(loops, shapes, strength)
    if why is None:
        return
    if loops == "cpp" and why.endswith("not built"):
        raise RuntimeError("the C++ fast path is not built: call gru_viz.fast.build_extension() first")
    raise ValueError(why)


def _forward(ids: torch.Tensor, h0: torch.Tensor, w: dict[str, torch.Tensor], force: ForceRows | None,
             blocks: int, cpp: bool, buf: dict[str, torch.Tensor], for_backward: bool = False,
             ext: object = None) -> None:
    """ids (B*T) token ids in the loops' order (`_positions`); fills buf's hs, zr, ht and rh, and with
    for_backward the C++ loops also fill buf's transposed weights, which the backward needs."""
    B, h = h0.shape
    T = ids.numel() // B
    if cpp:
        table, empty = _force_table(force), h0.new_empty((0,))
        (ext or load_extension()).forward(
            ids, h0, w["w_x"], w["b"], w["w_hzr"], w["w_hh"], empty if table is None else table, blocks, buf["hs"],
            buf["zr"], buf["ht"], buf["rh"], *((buf["w_hzr_t"], buf["w_hh_t"]) if for_backward else (empty, empty)))
        return
    onednn = use_onednn(h0, B)
    # one-hot @ W_x is a row gather: the input terms go straight where the loop adds the recurrent terms to them
    zr = buf["zr"]
    torch.index_select(w["w_xz"], 0, ids, out=zr[:, :h])
    torch.index_select(w["w_xr"], 0, ids, out=zr[:, h:])
    zr.add_(w["b"][: 2 * h])
    torch.index_select(w["w_xh"], 0, ids, out=buf["ht"]).add_(w["b"][2 * h :])
    rows, of_step, whole = force[:3] if force is not None else (None, [0] * T, [])
    run_forward(h0, operand(w["w_hzr"], onednn, B), operand(w["w_hh"], onednn, B), rows, of_step, whole,
                *(buf[k].view(T, B, -1) for k in ("hs", "zr", "ht", "rh")), onednn=onednn)


def _torch_backward(ids: torch.Tensor, dh_out: torch.Tensor, h0: torch.Tensor, w: dict[str, torch.Tensor],
                    force: ForceRows | None, buf: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The PyTorch loops' backward from dL/dH_t, positions in time-major order: (rows, dW_x[z|r], dW_xh, db, dW_hzr,
    dW_hh), the input weights' gradients only for `rows`, the tokens present (the other rows' are zero)."""
    B, h = h0.shape
    N = dh_out.shape[0]
    T = N // B
    onednn = use_onednn(h0, B)
    da_zr, da_h = buf["da_zr"], buf["da_h"]
    hprev = buf["hx"][:N]  # H_{t-1}: H_0, then H_1...
    keep = None if force is None else force.per_step()[:, 0]
    gates_forced = [] if force is None else force.gates_forced()
    run_backward(dh_out.view(T, B, h), hprev.view(T, B, h), buf["zr"].view(T, B, 2 * h), buf["ht"].view(T, B, h),
                 operand(w["w_hzr"].T, onednn, B), operand(w["w_hh"].T, onednn, B), keep, gates_forced,
                 da_zr.view(T, B, 2 * h), da_h.view(T, B, h),
                 *(buf[k].view(T, B, -1) for k in ("slope", "cand", "diff")),
                 free_gates(buf["zr"].view(T, B, 2 * h), force), onednn=onednn)
    # The recurrent weights' gradients as large products over all positions: H_{t-1}^T da.
    big = use_onednn(h0, h)
    d_whh = matmul_tn(buf["rh"], da_h, big, room=buf["h_t"])
    if gates_forced and all(gates_forced):  # a plain RNN: the gates' weights get no gradient
        d_whzr = da_zr.new_zeros(h, 2 * h)
    else:
        d_whzr = matmul_tn(hprev, da_zr, big, room=buf["h_t"])
    # X is one-hot: each position adds to its token's row (into contiguous tensors: into column slices it took 14x
    # longer). Only the tokens present get rows: a raw vocabulary of thousands would otherwise mean megabytes of
    # zeros to allocate, add into, take the norm of and subtract, every step.
    rows, row_of = torch.unique(ids, return_inverse=True)
    d_wxzr = da_zr.new_zeros(rows.numel(), 2 * h).index_add_(0, row_of, da_zr)
    d_wxh = da_h.new_zeros(rows.numel(), h).index_add_(0, row_of, da_h)
    return rows, d_wxzr, d_wxh, torch.cat([da_zr.sum(0), da_h.sum(0)]), d_whzr, d_whh


# --- the public steps ---------------------------------------------------------------------------------------


@torch.no_grad()
def run_step(model: GRUScratch, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float, clip: float,
             forcing: Forcing = FREE, loops: str | None = None, ext: object = None) -> tuple[float, torch.Tensor]:
    """`fast_step` on the named loops (`choice.LOOPS`); None: `choice.choose_loops`'s pick for these shapes. `ext`:
    the compiled module to run instead of this build's (the benchmark compares a kernel with an earlier build)."""
    if forcing.strength == 0.0:  # (1 − 0)·free + 0·value is the free gate exactly
        forcing = FREE
    B, T = X.shape
    h, N = model.hidden, B * T
    strength = _strength(forcing)
    if loops is None and ext is None:
        loops = choice.choose_loops(model.W_hq.device, model.W_hq.dtype, model.vocab_size, B, h, steps=T,
                                    strength=strength).loops
    else:
        loops = "cpp" if ext is not None else loops
        _check(loops, model.W_hq, model.vocab_size, B, strength)
    if loops == "textbook":
        with torch.enable_grad():
            return textbook_step(model, X, Y, state, lr, clip, forcing)
    cpp = loops == "cpp"
    force = _force_rows(forcing, T, h, 0, model.W_hh)  # textbook_step runs the model with start_step=0
    if loops == "torch-fm":
        p = {n: t.detach() for n, t in model.params().items()}
        loss, grads, last_state = fast_fm.train_step(p, X, Y, state.to(p["W_hh"].dtype), force)
        _update(model, grads, None, lr, clip)
        return loss, last_state
    w = _weights(model, cpp)
    blocks = _blocks(B, cpp)
    order, last = (x.to(X.device) for x in _positions(B, T, blocks))
    ids, y = X.reshape(-1)[order].long(), Y.reshape(-1)[order]
    h0 = state.to(w["w_hh"].dtype).contiguous()
    V = model.vocab_size
    buf = _buffers(B, T, h, w["w_hh"], reuse=True, cpp=cpp, vocab=V)
    buf["hx"][:B] = h0
    _forward(ids, h0, w, force, blocks, cpp, buf, for_backward=True, ext=ext)
    H = buf["hs"]

    # Output layer and mean cross-entropy over all positions at once (their order does not matter to a mean).
    onednn = use_onednn(H, N)
    logits = linear(H, w["w_hq"], w["b_q"], onednn)
    log_p = F.log_softmax(logits, dim=1)
    loss = -log_p.gather(1, y.unsqueeze(1)).mean()
    d_logits = log_p.exp_()  # softmax
    d_logits.scatter_add_(1, y.unsqueeze(1), d_logits.new_full((N, 1), -1.0))  # minus the one-hot targets
    d_logits /= N
    dh_out = linear(d_logits, w["w_hq"].T, None, onednn, out=buf["dh_out"])

    # Back through time; the recurrent weights' gradients as large products over all positions.
    if cpp:
        table, empty = _force_table(force), h0.new_empty((0,))
        d_wx, d_b = torch.empty_like(w["w_x"]), torch.empty_like(w["b"])
        (ext or load_extension()).backward(
            ids, dh_out, h0, H, buf["zr"], buf["ht"], buf["rh"], buf["w_hzr_t"], buf["w_hh_t"],
            empty if table is None else table, blocks, buf["da"], buf["dw_zr"], buf["dw_hh"], d_wx, d_b)
        rows, d_wxzr, d_wxh, d_whzr, d_whh = None, d_wx[:, : 2 * h], d_wx[:, 2 * h :], buf["dw_zr"], buf["dw_hh"]
    else:
        rows, d_wxzr, d_wxh, d_b, d_whzr, d_whh = _torch_backward(ids, dh_out, h0, w, force, buf)
    grads = {"W_xz": d_wxzr[:, :h], "W_xr": d_wxzr[:, h:], "W_xh": d_wxh,
             "W_hz": d_whzr[:, :h], "W_hr": d_whzr[:, h:], "W_hh": d_whh,
             # (dl^T H)^T: 1.5-2x faster than H^T dl
             "W_hq": matmul_tn(d_logits, H, onednn, room=buf["dl_t"]).T, "b_q": d_logits.sum(0)}
    grads["b_z"], grads["b_r"], grads["b_h"] = d_b.split(h)
    _update(model, grads, rows, lr, clip)
    return float(loss), H[last]  # the last step's rows, in row order (a copy: the buffers are reused)


def _update(model: GRUScratch, grads: dict[str, torch.Tensor], rows: torch.Tensor | None, lr: float,
            clip: float) -> None:
    """d2l's grad_clipping (one global norm, rescaled to θ when above it) and SGD, in place on the parameters.
    rows: the only rows of W_x* that have a gradient (None: all); the others add nothing to the norm and stay."""
    ordered = [grads[n] for n in PARAM_NAMES]
    norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in ordered])))
    scale = lr * clip / norm if norm > clip else lr
    for name, g in zip(PARAM_NAMES, ordered):
        if rows is not None and name in INPUT_WEIGHTS:
            getattr(model, name).index_add_(0, rows, g, alpha=-scale)
        else:
            getattr(model, name).sub_(g, alpha=scale)


def fast_step(model: GRUScratch, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float, clip: float,
              forcing: Forcing) -> tuple[float, torch.Tensor]:
    """One minibatch exactly as `textbook_step` (loss, clipped SGD update, new detached state), hand-derived, on
    the loops `choice.choose_loops` picks for these shapes (a run fixes its loops: `run_step(loops=...)`)."""
    return run_step(model, X, Y, state, lr, clip, forcing)


@torch.no_grad()
def fast_trace(model: GRUScratch, ids: torch.Tensor, forcing: Forcing = FREE, state: torch.Tensor | None = None,
               start_step: int = 0, loops: str | None = None) -> Trace:
    """The recording forward of `model(ids, state, forcing, record=True, start_step=...)`, for tracing texts fast.

    ids (batch, steps) token ids; state defaults to zeros, as `trace_text` uses. loops: "cpp" or "torch-rows" (the
    feature-major set only trains); None: `choice.trace_loops`.
    """
    if forcing.strength == 0.0:  # (1 − 0)·free + 0·value is the free gate exactly
        forcing = FREE
    strength = _strength(forcing)
    loops = loops or ("torch-rows" if strength < 1 else choice.trace_loops(model.W_hq.device, model.W_hq.dtype))
    if loops not in ("cpp", "torch-rows"):
        raise ValueError(f"a trace runs on the cpp or torch-rows loops, not {loops!r}")
    _check(loops, model.W_hq, model.vocab_size, ids.shape[0], strength)
    cpp = loops == "cpp"
    w = _weights(model, cpp)
    B, T = ids.shape
    h = model.hidden
    h0 = (model.begin_state(B, w["w_hh"].device) if state is None else state).to(w["w_hh"].dtype).contiguous()
    buf = _buffers(B, T, h, w["w_hh"], reuse=False, cpp=cpp, backward=False)  # fresh: the trace keeps these
    force = _force_rows(forcing, T, h, start_step, w["w_hh"])
    # One block: positions in time-major order, so the outputs are (T, B, .) views.
    _forward(ids.T.reshape(-1).long(), h0, w, force, 1, cpp, buf)
    hs, zr = buf["hs"].view(T, B, h), buf["zr"].view(T, B, 2 * h)
    logits = torch.addmm(w["b_q"], buf["hs"], w["w_hq"]).view(T, B, -1)
    return Trace(R=zr[..., h:].contiguous(), Z=zr[..., :h].contiguous(), H_tilde=buf["ht"].view(T, B, h), H=hs,
                 logits=logits, H0=h0)


def step_timer(shapes: choice.Shapes, clock: Callable[[], float] = time.perf_counter) -> choice.Measure:
    """Times training steps of each set of loops on a throwaway model of the run's shapes (random tokens)."""
    gen = torch.Generator().manual_seed(0)
    device, dtype = torch.device(shapes.device), getattr(torch, shapes.dtype)
    X, Y = (torch.randint(0, shapes.vocab, (shapes.batch, shapes.steps), generator=gen).to(device) for _ in "XY")
    models: dict[str, GRUScratch] = {}

    def measure(loops: str, steps: int) -> float:
        if loops not in models:
            models[loops] = GRUScratch(shapes.vocab, shapes.hidden, generator=torch.Generator().manual_seed(0)).to(
                device=device, dtype=dtype)
        model = models[loops]
        state = model.begin_state(shapes.batch, device)
        start = clock()
        for _ in range(steps):
            if loops == "textbook":
                with torch.enable_grad():  # a run_step that chooses on first use calls this under no_grad
                    _, state = textbook_step(model, X, Y, state, 1.0, 1.0, FREE)
            else:
                _, state = run_step(model, X, Y, state, 1.0, 1.0, FREE, loops=loops)
        return clock() - start

    return measure


choice.TIMER = step_timer  # choose_loops calibrates with it (choice cannot import this module)
