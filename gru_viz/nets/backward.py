"""What the hand-written backwards share (gradient flow for the GRU, the plain RNN and nn.GRU's cell; attribution
for both conventions): the output layer's gradient that seeds them, and the walk back that records its norm."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F


def check_target(tokens: list[int], target: int) -> None:
    """The step whose loss is followed must have a next token to predict."""
    if not 0 <= target < len(tokens) - 1:
        raise ValueError(f"target step must be in 0..{len(tokens) - 2}")


def loss_gradient(H_t: torch.Tensor, W_hq: torch.Tensor, b_q: torch.Tensor, next_id: int) -> torch.Tensor:
    """∂ cross-entropy(next_id) / ∂H_t through the output layer: (softmax − onehot) W_hqᵀ."""
    probs = F.softmax(H_t @ W_hq + b_q, dim=0)
    probs[next_id] -= 1.0
    return probs @ W_hq.T


def top1_gradient(H: torch.Tensor, W_hq: torch.Tensor, b_q: torch.Tensor) -> torch.Tensor:
    """(steps, hidden): row t is ∂ log p(ŷ_t) / ∂H_t = (onehot(ŷ_t) − softmax) W_hqᵀ, ŷ_t the top-1 at step t."""
    logits = H @ W_hq + b_q
    seed = -F.softmax(logits, dim=1)
    seed[torch.arange(H.shape[0]), logits.argmax(dim=1)] += 1.0
    return seed @ W_hq.T


def norms_back(g: torch.Tensor, target: int, back: Callable[[torch.Tensor, int], torch.Tensor]) -> np.ndarray:
    """‖g‖ at t = target, target − 1, …, 0, where back(g, t) carries ∂/∂H_t to ∂/∂H_{t−1}; index t holds step t."""
    norms = np.zeros(target + 1)
    for t in range(target, -1, -1):
        norms[t] = float(g.norm())
        g = back(g, t)
    return norms
