"""The PyTorch loops' training step in feature-major layout, for CPU float32 with oneDNN and small vocabularies.

Each step's tensors are (features, batch), so every product is W @ A^T: the weight is oneDNN's input as it is and
the step's activation its (small) weight, so no weight is reordered at every step. X_t W_x + b enter as one-hot
and constant rows of the input, so sigmoid and tanh run inside the products, and the weights' gradients (input
weights and biases too) come from two products. Same equations and update as `train.textbook_step`.
"""

from __future__ import annotations

import functools
from typing import List, Optional  # noqa: UP035 (TorchScript reads these annotations)

import torch
from torch.nn import functional as F

from gru_viz.fast import torch_rows as fast_torch
from gru_viz.fast.force_rows import free_gates
from gru_viz.fast.rooms import Rooms

# One-hot rows beside H in every product: beyond this vocabulary they would cost more than the gathers they save
# (`choice.why_not` leaves these loops out above it, and without oneDNN's float32 kernels or below 8 rows).
MAX_VOCAB = 64


def forward_fm(xin: torch.Tensor, cin: torch.Tensor, w_zr: torch.Tensor, w_h: torch.Tensor, zr: torch.Tensor,
               ht: torch.Tensor, h: int, force: Optional[torch.Tensor], force_of_step: List[int],  # noqa: UP006, UP045
               whole_rows: List[bool]) -> None:  # noqa: UP006
    """xin (T+1, h+V+1, B): step t's [H_{t-1}; one-hot X_t; 1], H_0 in xin[0] on entry, H_t written to xin[t+1];
    cin (T, h+V+1, B): [R*H_{t-1}; one-hot X_t; 1]. w_zr = [W_hzr; W_xzr; b_zr]^T, w_h = [W_hh; W_xh; b_h]^T.
    Fills zr (T, 2h, B) = [Z; R] and ht (T, h, B) = H~. force (K, 2, 2h, 1): fast's `ForceRows` as columns."""
    keeps, values = (force[:, 0].unbind(), force[:, 1].unbind()) if force is not None else ([], [])
    for t in range(cin.size(0)):
        x_t, zr_t = xin[t], zr[t]
        k = force_of_step[t]
        if k > 0 and whole_rows[k]:  # every gate of every unit forced: nothing to compute
            zr_t.copy_(values[k])
        else:  # oneDNN's weight is the (B, rows) activation, a plain transposed view
            zr_t.copy_(torch.ops.mkldnn._linear_pointwise(w_zr, x_t.t(), None, "sigmoid", [], ""))
            if k > 0:  # Z*1 + 0 or Z*0 + c, exactly, in one op
                torch.addcmul(values[k], zr_t, keeps[k], out=zr_t)
        hp = x_t[:h]
        torch.mul(zr_t[h:], hp, out=cin[t, :h])
        ht_t = ht[t]
        ht_t.copy_(torch.ops.mkldnn._linear_pointwise(w_h, cin[t].t(), None, "tanh", [], ""))
        torch.lerp(ht_t, hp, zr_t[:h], out=xin[t + 1, :h])  # H~ + Z*(H - H~) = Z*H + (1-Z)*H~


def backward_fm(dh_out: torch.Tensor, xin: torch.Tensor, zr: torch.Tensor, ht: torch.Tensor, w_hzr: torch.Tensor,
                w_hh: torch.Tensor, keep: Optional[torch.Tensor], gates_forced: List[bool],  # noqa: UP006, UP045
                da_zr: torch.Tensor, da_h: torch.Tensor, slope: torch.Tensor, cand: torch.Tensor,
                free_zr: Optional[torch.Tensor] = None) -> None:  # noqa: UP045
    """Fills da_zr (T, 2h, B) and da_h (T, h, B) = dL/d(pre-activation) of [Z; R] and of H~ from dh_out (h, T, B) =
    dL/dH_t. w_hzr = [W_hz | W_hr] (h, 2h) and w_hh as the model has them. keep (T, 2h): 1 where a gate is free;
    gates_forced[t]: every gate forced at step t (no product). slope and cand: room for the factors below.
    free_zr: below full forcing strength, the free gates behind zr's blended ones (σ' is theirs)."""
    T, h = ht.size(0), ht.size(1)
    hprev, z, r = xin[:T, :h], zr[:, :h], zr[:, h:]
    # what does not depend on the carried gradient, for all steps at once
    fast_torch.gate_slopes(zr, free_zr, keep, 2, ht, z, slope, cand)
    slope[:, :h].mul_(torch.sub(hprev, ht, out=da_h))  # dH/dZ times sigmoid' (da_h is free until the loop)
    slope[:, h:].mul_(hprev)  # d(R*H_{t-1})/dR times sigmoid'
    dh = dh_out[:, T - 1]
    for i in range(T):
        t = T - 1 - i
        d_h = torch.mul(dh, cand[t], out=da_h[t])
        drh = torch.ops.mkldnn._linear_pointwise(w_hh, d_h.t(), None, "none", [], "")  # dL/d(R*H_{t-1})
        skip = len(gates_forced) > 0 and gates_forced[t]
        if skip:
            da_zr[t].zero_()
        else:
            torch.mul(dh, slope[t, :h], out=da_zr[t, :h])
            torch.mul(drh, slope[t, h:], out=da_zr[t, h:])
        if t > 0:  # dL/dH_0 is not needed: the state entering a minibatch is detached
            carry = torch.addcmul(dh_out[:, t - 1], dh, z[t]).addcmul_(drh, r[t])
            dh = carry if skip else torch.ops.mkldnn._linear_pointwise(w_hzr, carry, da_zr[t].t(), None, "add")


@functools.lru_cache(maxsize=1)
def _loops() -> tuple:
    return fast_torch._compiled(forward_fm), fast_torch._compiled(backward_fm)


_ROOMS = Rooms()


def _room(T: int, B: int, h: int, V: int) -> dict[str, torch.Tensor]:
    """This thread's buffers, reused while the shapes stay (rooms.Rooms)."""
    rows = h + V + 1

    def make() -> dict[str, torch.Tensor]:
        room = {name: torch.empty(shape) for name, shape in {
            "xin": (T + 1, rows, B), "cin": (T, rows, B), "zr": (T, 2 * h, B), "ht": (T, h, B),
            "da_zr": (T, 2 * h, B), "da_h": (T, h, B), "slope": (T, 2 * h, B), "cand": (T, h, B),
            "g_in": (rows, T, B), "w_hzr": (h, 2 * h), "w_zr": (2 * h, rows), "w_h": (h, rows)}.items()}
        room["g_da"] = room["slope"].view(2 * h, T, B)  # the slopes are spent when the gradients are copied there
        room["xin"][:, h:].zero_()
        room["xin"][:, -1] = 1.0  # the biases' row
        room["cin"][:, -1] = 1.0
        return room

    return _ROOMS.get((T, B, h, V), make)


def _by_step(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """(T, rows, B) as (rows, T*B) for a product over all positions: a copy of B-float runs into `out`."""
    return out[: x.shape[1]].copy_(x.permute(1, 0, 2)).view(x.shape[1], -1)


def train_step(p: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor, h0: torch.Tensor,
               force: object = None) -> tuple[float, dict[str, torch.Tensor], torch.Tensor]:
    """Loss, gradients by parameter name and the last state (B, h) for one minibatch X, Y (B, T) from state h0;
    p: the model's detached parameters; force: fast's `ForceRows` or None."""
    B, T = X.shape
    V, h = p["W_xz"].shape
    N = B * T
    room = _room(T, B, h, V)
    xin, cin = room["xin"], room["cin"]
    onehot = xin[:T, h : h + V]
    onehot.zero_().scatter_(1, X.T.long().unsqueeze(1), 1.0)
    cin[:, h : h + V].copy_(onehot)
    xin[0, :h].copy_(h0.t())
    # the weights as the products take them, in room reused from step to step (as everything here that is large)
    w_hzr = torch.cat([p["W_hz"], p["W_hr"]], 1, out=room["w_hzr"])
    w_xzr, b_zr = torch.cat([p["W_xz"], p["W_xr"]], 1), torch.cat([p["b_z"], p["b_r"]])
    w_zr = torch.cat([w_hzr.t(), w_xzr.t(), b_zr.unsqueeze(1)], 1, out=room["w_zr"])
    w_h = torch.cat([p["W_hh"].t(), p["W_xh"].t(), p["b_h"].unsqueeze(1)], 1, out=room["w_h"])
    rows, of_step, whole = (force.rows.unsqueeze(-1), force.of_step, force.whole) if force is not None else (
        None, [0] * T, [])
    forward, backward = _loops()
    forward(xin, cin, w_zr, w_h, room["zr"], room["ht"], h, rows, of_step, whole)

    # Output layer and mean cross-entropy over all positions, feature-major: logits^T (V, N)
    H = _by_step(xin[1:, :h], room["g_in"])  # (h, N), position t*B + b
    logits = torch.ops.mkldnn._linear_pointwise(p["W_hq"].t().contiguous(), H.t(), None, "none", [], "")
    logits.add_(p["b_q"].unsqueeze(1))
    y = Y.T.reshape(1, -1)
    log_p = F.log_softmax(logits, dim=0)
    loss = -log_p.gather(0, y).mean()
    d_logits = log_p.exp_()  # softmax
    d_logits.scatter_add_(0, y, d_logits.new_full((1, N), -1.0))  # minus the one-hot targets
    d_logits /= N
    grads = {"W_hq": torch.ops.mkldnn._linear_pointwise(H, d_logits, None, "none", [], ""), "b_q": d_logits.sum(1)}
    dh_out = torch.ops.mkldnn._linear_pointwise(p["W_hq"], d_logits.t(), None, "none", [], "").view(h, T, B)
    state = xin[T, :h].t().contiguous()

    # Back through time, then [W_h*; W_x*; b]'s gradients as one product over all positions for each of the two
    keep = None if force is None else force.per_step()[:, 0]
    gates_forced = [] if force is None else force.gates_forced()
    backward(dh_out, xin, room["zr"], room["ht"], w_hzr, p["W_hh"], keep, gates_forced, room["da_zr"],
             room["da_h"], room["slope"], room["cand"], free_gates(room["zr"], force, feature_major=True))
    def product(da: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:  # da^T [H; X; 1]: (rows of da, h+V+1)
        a = _by_step(inputs, room["g_in"])
        return torch.ops.mkldnn._linear_pointwise(_by_step(da, room["g_da"]), a, None, "none", [], "")

    plain_rnn = bool(gates_forced) and all(gates_forced)  # the gates get no gradient
    g_zr = room["da_zr"].new_zeros(2 * h, h + V + 1) if plain_rnn else product(room["da_zr"], xin[:T])
    g_h = product(room["da_h"], cin)
    w, x, b = g_zr[:, :h].t(), g_zr[:, h : h + V].t(), g_zr[:, -1]
    grads |= {"W_hz": w[:, :h], "W_hr": w[:, h:], "W_xz": x[:, :h], "W_xr": x[:, h:], "b_z": b[:h], "b_r": b[h:],
              "W_hh": g_h[:, :h].t(), "W_xh": g_h[:, h : h + V].t(), "b_h": g_h[:, -1]}
    return float(loss), grads, state
