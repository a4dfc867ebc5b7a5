"""The concise GRU (`nn.GRU` + `nn.Linear`, d2l's RNNModel/RNNLM) in PyTorch's convention, with the scratch
model's interface: the reset gate acts after the recurrent product, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from gru_viz.nets.backward import check_target, loss_gradient, norms_back, top1_gradient
from gru_viz.nets.model import FREE, CharModel, Forcing, Forward, Recording

ARCH = "torch-gru"
# Our checkpoint's names: nn.GRU's own (layer 0) and the Linear's, so a notebook loads them with one prefix.
TORCH_PARAM_NAMES: tuple[str, ...] = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                      "linear.weight", "linear.bias")


def torch_param_shapes(vocab_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """nn.GRU's layout: rows in gate order r, z, n (3·hidden), inputs one-hot over the vocabulary."""
    v, h = vocab_size, hidden
    return {"weight_ih_l0": (3 * h, v), "weight_hh_l0": (3 * h, h), "bias_ih_l0": (3 * h,), "bias_hh_l0": (3 * h,),
            "linear.weight": (v, h), "linear.bias": (v,)}


class ConciseGRU(CharModel):
    """nn.GRU(vocab, hidden) followed by nn.Linear(hidden, vocab), one step at a time so gates can be recorded
    and forced. The output layer is kept as W_hq (hidden × vocab) = linear.weightᵀ and b_q, as in the scratch
    model, so code that reads the output layer or the device works on both kinds.
    """

    arch = ARCH
    convention = "torch"

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__(vocab_size, hidden)
        self.weight_ih = nn.Parameter(torch.zeros(3 * hidden, vocab_size))
        self.weight_hh = nn.Parameter(torch.zeros(3 * hidden, hidden))
        self.bias_ih = nn.Parameter(torch.zeros(3 * hidden))
        self.bias_hh = nn.Parameter(torch.zeros(3 * hidden))
        self.W_hq = nn.Parameter(torch.zeros(hidden, vocab_size))
        self.b_q = nn.Parameter(torch.zeros(vocab_size))

    def params(self) -> dict[str, torch.Tensor]:
        """The tensors under the checkpoint's names (nn.GRU's and nn.Linear's layout)."""
        return {"weight_ih_l0": self.weight_ih, "weight_hh_l0": self.weight_hh, "bias_ih_l0": self.bias_ih,
                "bias_hh_l0": self.bias_hh, "linear.weight": self.W_hq.T, "linear.bias": self.b_q}

    def forward(self, inputs: torch.Tensor, state: torch.Tensor, forcing: Forcing = FREE, record: bool = False,
                start_step: int = 0) -> Forward:
        """CharModel's contract, as GRUScratch.forward (the trace's H_tilde holds n)."""
        forcing.check(self.hidden)
        h = self.hidden
        w_ir, w_iz, w_in = self.weight_ih.chunk(3)
        # X_t W_i*ᵀ as rows of W_i*ᵀ (vocab × hidden): the one-hot product or a row lookup, as the scratch model
        XW_r, XW_z, XW_n = self.input_terms(inputs, (w_ir.T, w_iz.T, w_in.T))
        b_ir, b_iz, b_in = self.bias_ih.chunk(3)
        b_hr, b_hz, b_hn = self.bias_hh.chunk(3)
        w_hh = self.weight_hh.T  # (hidden, 3·hidden): one product gives all three recurrent terms
        H = state
        r_mask = forcing.reset.unit_mask(h, H.device)
        z_mask = forcing.update.unit_mask(h, H.device)
        outputs, rec = [], Recording(record)
        for i in range(inputs.shape[1]):
            t = start_step + i
            gh = H @ w_hh
            reset = torch.sigmoid(XW_r(i) + b_ir + gh[:, :h] + b_hr)
            reset = forcing.reset.apply(reset, t, r_mask, forcing.strength)
            update = torch.sigmoid(XW_z(i) + b_iz + gh[:, h : 2 * h] + b_hz)
            update = forcing.update.apply(update, t, z_mask, forcing.strength)
            candidate = torch.tanh(XW_n(i) + b_in + reset * (gh[:, 2 * h :] + b_hn))  # reset after the product
            H = (1 - update) * candidate + update * H
            outputs.append(H @ self.W_hq + self.b_q)
            rec.add(reset, update, candidate, H)
        logits = torch.cat(outputs, dim=0)
        return logits, H, rec.trace(logits, state)


def concise_from_params(tensors: dict[str, torch.Tensor]) -> ConciseGRU:
    """A ConciseGRU from tensors under TORCH_PARAM_NAMES (shapes as torch_param_shapes)."""
    three_h, vocab_size = tensors["weight_ih_l0"].shape
    model = ConciseGRU(vocab_size, three_h // 3)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(model, name).copy_(tensors[f"{name}_l0"])
        model.W_hq.copy_(tensors["linear.weight"].T)
        model.b_q.copy_(tensors["linear.bias"])
    return model


def from_torch(gru: nn.GRU, linear: nn.Linear) -> ConciseGRU:
    """The model of a one-layer, unidirectional nn.GRU with biases and its output Linear."""
    if gru.num_layers != 1 or gru.bidirectional or not gru.bias:
        raise ValueError("only a one-layer, one-directional nn.GRU with biases can be shown")
    return concise_from_params({**{k: v.detach() for k, v in gru.state_dict().items()},
                                "linear.weight": linear.weight.detach(), "linear.bias": linear.bias.detach()})


# --- backward by hand, for the scrubber's attribution and the gradient-flow view (tests check them with autograd)


def _recorded(model: ConciseGRU, tokens: list[int], forcing: Forcing, dtype: torch.dtype):
    """A private CPU copy in `dtype`, and over tokens from a zero state: the trace's Z, R, n, H, H_{t−1}, the
    recurrent term H_{t−1} W_hnᵀ + b_hn, and σ′ of the free gates (r, z) as the forced ones were computed from."""
    m = copy.deepcopy(model).to(dtype=dtype, device="cpu")  # shared models are never touched
    ids = torch.as_tensor(tokens, dtype=torch.long).reshape(1, -1)
    _, _, tr = m(ids, m.begin_state(1), forcing, record=True)
    h = m.hidden
    Z, R, N, H, Hp = (x[:, 0] for x in (tr.Z, tr.R, tr.H_tilde, tr.H, tr.H_prev))
    pre = m.weight_ih.T[ids[0]] + m.bias_ih + Hp @ m.weight_hh.T + m.bias_hh  # (T, 3h); the n part is unused
    free_r, free_z = torch.sigmoid(pre[:, :h]), torch.sigmoid(pre[:, h : 2 * h])
    gh_n = Hp @ m.weight_hh[2 * h :].T + m.bias_hh[2 * h :]
    return m, (Z, R, N, H, Hp, gh_n, free_r * (1 - free_r), free_z * (1 - free_z))


def _step_back(g: torch.Tensor, s: int, m: ConciseGRU, rec: tuple, forcing: Forcing) -> tuple[torch.Tensor, ...]:
    """At step s, from g = ∂/∂H_s: (∂/∂a_r, ∂/∂a_z, ∂/∂a_n) (pre-activations) and ∂/∂H_{s−1}."""
    Z, R, N, _, Hp, gh_n, dr, dz = rec
    h, st = m.hidden, forcing.strength
    d_z = g * ((Hp[s] - N[s]) * dz[s] * forcing.update.free_share(s, h, st, g.dtype))
    d_n = g * ((1 - Z[s]) * (1 - N[s] ** 2))
    d_r = d_n * (gh_n[s] * dr[s] * forcing.reset.free_share(s, h, st, g.dtype))  # r multiplies H W_hnᵀ + b_hn
    g_prev = g * Z[s] + torch.cat([d_r, d_z, d_n * R[s]], dim=-1) @ m.weight_hh
    return d_r, d_z, d_n, g_prev


@torch.no_grad()
def gradient_flow_torch(model: ConciseGRU, tokens: list[int], target: int, forcing: Forcing = FREE):
    """analysis.gradient_flow for nn.GRU's convention: ‖∂loss_t/∂H_t′‖ for t′ ≤ t (float64)."""
    check_target(tokens, target)
    m, rec = _recorded(model, tokens[: target + 1], forcing, torch.float64)
    g = loss_gradient(rec[3][target], m.W_hq, m.b_q, tokens[target + 1])
    return norms_back(g, target, lambda g, t: _step_back(g, t, m, rec, forcing)[3])


@torch.no_grad()
def attribution_torch(model: ConciseGRU, tokens, forcing: Forcing = FREE, dtype: torch.dtype = torch.float32):
    """attribution.attribution for nn.GRU's convention: A[t, t′] = ‖∂ log p(ŷ_t) / ∂X_t′‖₂, all targets carried
    backward together."""
    tokens = [int(x) for x in np.asarray(tokens).reshape(-1)]
    steps = len(tokens)
    if steps == 0:
        raise ValueError("need at least one token")
    m, rec = _recorded(model, tokens, forcing, dtype)
    seed = top1_gradient(rec[3], m.W_hq, m.b_q)
    out = torch.zeros(steps, steps, dtype=dtype)
    G = torch.empty(steps, m.hidden, dtype=dtype)
    for s in range(steps - 1, -1, -1):
        G[s] = seed[s]
        d_r, d_z, d_n, G[s:] = _step_back(G[s:], s, m, rec, forcing)
        out[s:, s] = torch.linalg.vector_norm(torch.cat([d_r, d_z, d_n], dim=1) @ m.weight_ih, dim=1)
    return out.double().numpy()
