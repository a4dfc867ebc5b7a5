"""Which characters mattered: ‖∂ log p(ŷ_{t+1} | x_≤t) / ∂X_t'‖ for every step t and every t' ≤ t, exactly, by a
hand-written backward through the GRU that carries all targets t at once (one pass, no autograd)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from gru_viz.nets.backward import top1_gradient
from gru_viz.nets.model import FREE, Forcing, GRUScratch

# The target of step t is the model's own top-1 next character (always defined, the last step included, and the
# bar the scrubber's "next character" chart shows first); a forced model explains its own top-1 prediction.
TARGET = "top1"


@torch.no_grad()
def attribution(model: GRUScratch, tokens: list[int] | np.ndarray, forcing: Forcing = FREE,
                dtype: torch.dtype = torch.float32) -> np.ndarray:
    """A[t, t'] = ‖∂ log p(ŷ_t | x_0 … x_t) / ∂X_t'‖₂ for t' ≤ t (0 above the diagonal), from a zero state.

    ŷ_t is the model's top-1 prediction after reading tokens[t]; X_t' is the one-hot input at step t' (the norm
    runs over the vocabulary). All T targets are carried backward together: at step s the rows t ≥ s hold
    ∂ log p(ŷ_t)/∂H_s, so the whole matrix costs one backward sweep of (T−s)-row matmuls.
    """
    if getattr(model, "convention", "d2l") == "torch":  # nn.GRU's cell: the reset gate after the product
        from gru_viz.nets.concise import attribution_torch

        return attribution_torch(model, tokens, forcing, dtype)
    ids = torch.as_tensor(np.asarray(tokens, dtype=np.int64)).reshape(1, -1)
    steps = ids.shape[1]
    if steps == 0:
        raise ValueError("need at least one token")
    m = copy.deepcopy(model).to(dtype=dtype, device="cpu")  # a private copy: shared models are never touched
    p = m.params()
    _, _, tr = m(ids, m.begin_state(1), forcing, record=True)
    Z, R, Ht, H, Hp = (x[:, 0] for x in (tr.Z, tr.R, tr.H_tilde, tr.H, tr.H_prev))  # (T, hidden)
    seed = top1_gradient(H, p["W_hq"], p["b_q"])  # (T, hidden): row t seeds target t at step t
    hidden = H.shape[1]
    z_free, r_free = (torch.stack([force.free_share(t, hidden, forcing.strength, dtype) for t in range(steps)])
                      for force in (forcing.update, forcing.reset))
    if forcing.active and not forcing.full:
        # σ' belongs to the free gate: a blended entry's slope is (1 − s)·σ(a)(1 − σ(a)), not the blend's
        z_f = torch.sigmoid(p["W_xz"][ids[0]] + Hp @ p["W_hz"] + p["b_z"])
        r_f = torch.sigmoid(p["W_xr"][ids[0]] + Hp @ p["W_hr"] + p["b_r"])
    else:
        z_f, r_f = Z, R
    w_x = torch.cat([p["W_xz"], p["W_xr"], p["W_xh"]], dim=1).T.contiguous()  # (3h, vocab)
    w_h = torch.cat([p["W_hz"], p["W_hr"]], dim=1).T.contiguous()  # (2h, hidden)
    w_hh = p["W_hh"].T.contiguous()
    out = torch.zeros(steps, steps, dtype=dtype)
    G = torch.empty(steps, hidden, dtype=dtype)  # rows s … T−1 are live at step s
    for s in range(steps - 1, -1, -1):
        G[s] = seed[s]
        g = G[s:]
        d_z = g * ((Hp[s] - Ht[s]) * z_f[s] * (1 - z_f[s]) * z_free[s])  # through σ; a forced gate is a constant
        d_ah = g * ((1 - Z[s]) * (1 - Ht[s] ** 2))  # through tanh
        d_rh = d_ah @ w_hh  # gradient of R ⊙ H_{t−1}
        d_r = d_rh * (Hp[s] * r_f[s] * (1 - r_f[s]) * r_free[s])
        out[s:, s] = torch.linalg.vector_norm(torch.cat([d_z, d_r, d_ah], dim=1) @ w_x, dim=1)
        G[s:] = g * Z[s] + d_rh * R[s] + torch.cat([d_z, d_r], dim=1) @ w_h  # → ∂/∂H_{s−1}
    return out.double().numpy()


# --- for the browser: the lower triangle as 16-bit integers on a log scale -------------------------------------

# log10 of a norm: smaller norms are sent as 0 (no bar); larger ones (a plain RNN's exploding gradient, even an
# overflow to inf in float32) as 10^6, shown as "≥ 1e6".
LOG_RANGE = (-12.0, 6.0)


def triangle(A: np.ndarray) -> np.ndarray:
    """The lower triangle (diagonal included) row by row: row t's t+1 values start at index t(t+1)/2."""
    return A[np.tril_indices(A.shape[0])]


def quantize_log(x: np.ndarray, lo: float = LOG_RANGE[0], hi: float = LOG_RANGE[1]) -> np.ndarray:
    """Norms as uint16: 0 for x ≤ 10^lo, else the nearest of 65535 levels of log10 x on [lo, hi] (1 … 65535), so
    the relative error is at most 10^((hi − lo)/131070) − 1 (3.2e-4 on the default range). Not finite (an
    overflow, or inf · 0 after one) counts as above the range."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=np.inf)
    with np.errstate(divide="ignore"):
        lg = np.log10(np.maximum(x, 0.0))
    q = np.clip(np.rint((lg - lo) / (hi - lo) * 65535), 1, 65535)
    return np.where(x > 10.0**lo, q, 0).astype(np.uint16)


def dequantize_log(q: np.ndarray, lo: float = LOG_RANGE[0], hi: float = LOG_RANGE[1]) -> np.ndarray:
    """What the browser computes: 0 for 0, else 10^(lo + q (hi − lo) / 65535)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q > 0, 10.0 ** (lo + q * (hi - lo) / 65535), 0.0)


def max_relative_error(lo: float = LOG_RANGE[0], hi: float = LOG_RANGE[1]) -> float:
    return float(10.0 ** ((hi - lo) / 131070) - 1)
