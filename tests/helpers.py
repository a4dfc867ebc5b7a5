"""Helpers the tests share: an independent clipped-SGD update to compare steps with, and waiting for a thread."""

from __future__ import annotations

import math
import time

import torch


def autograd_sgd_update(model, X, Y, state, lr, clip, forcing) -> tuple[dict, float, float]:
    """Autograd on the chapter's forward, d2l's gradient clipping written out, SGD.
    Returns (the updated parameters by name, the gradient norm before clipping, the loss)."""
    names = list(model.params())  # d2l's names in order: the GRU's PARAM_NAMES, or the plain RNN's
    params = [getattr(model, n) for n in names]
    logits, _, _ = model(X, state, forcing)
    loss = torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1))
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    scale = clip / norm if norm > clip else 1.0
    return {n: (p - lr * scale * g).detach() for n, p, g in zip(names, params, grads)}, norm, float(loss.detach())


def wait_for(pred, timeout: float) -> bool:
    """Poll `pred` until it is true (True) or `timeout` seconds have passed (False): for a worker thread's state."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False
