"""d2l's step of train_epoch_ch8: forward, mean cross-entropy, autograd, global-norm clipping, SGD; and the
perplexity it reports. The fast wing checks its own steps against this one (and falls back to it)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from gru_viz.nets.model import Forcing, GRUScratch


def perplexity(mean_loss: float) -> float:
    """exp(loss) that never overflows: a diverged loss reads as infinite perplexity."""
    if not math.isfinite(mean_loss) or mean_loss > 700:
        return math.inf
    return math.exp(mean_loss)


def grad_clipping(params: list[torch.Tensor], theta: float) -> float:
    """d2l's grad_clipping: rescale all gradients together so their global norm is at most θ."""
    params = [p for p in params if p.grad is not None]  # a gate forced everywhere leaves its weights gradient-free
    norm = torch.sqrt(sum(torch.sum(p.grad**2) for p in params))
    if norm > theta:
        for p in params:
            p.grad.mul_(theta / norm)
    return float(norm)


def textbook_step(
    model: GRUScratch, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float, clip: float, forcing: Forcing
) -> tuple[float, torch.Tensor]:
    """One minibatch as d2l does it: forward, mean cross-entropy, autograd, clip, SGD. Returns (loss, state)."""
    y = Y.T.reshape(-1)  # time-major, matching the logits
    logits, state, _ = model(X, state, forcing)
    loss = F.cross_entropy(logits, y)
    clipped_sgd(loss, list(model.params().values()), lr, clip)  # d2l's names, GRU's or plain RNN's
    return float(loss.detach()), state.detach()


def clipped_sgd(loss: torch.Tensor, params: list[torch.Tensor], lr: float, clip: float) -> None:
    """d2l's update: autograd, global-norm clipping to θ, then p -= lr·grad (d2l.sgd with batch size 1, since
    the loss is already a mean). Parameters a forced gate leaves without a gradient are not touched."""
    for p in params:
        p.grad = None
    loss.backward()
    grad_clipping(params, clip)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
