"""What the hand-written backwards share (gru_viz.nets.backward), against autograd: the output layer's gradients that
seed them, the walk back that records norms, and the target check; and GateForce.free_share."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gru_viz.nets.backward import check_target, loss_gradient, norms_back, top1_gradient
from gru_viz.nets.model import GateForce


def _output_layer(hidden: int = 5, vocab: int = 7):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(hidden, vocab, generator=gen, dtype=torch.float64),
            torch.randn(vocab, generator=gen, dtype=torch.float64))


def test_loss_gradient_is_autograds_gradient_of_the_cross_entropy():
    W_hq, b_q = _output_layer()
    H_t = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    F.cross_entropy((H_t @ W_hq + b_q)[None], torch.tensor([3])).backward()
    torch.testing.assert_close(loss_gradient(H_t.detach(), W_hq, b_q, 3), H_t.grad, rtol=1e-12, atol=1e-14)


def test_top1_gradient_is_autograds_gradient_of_each_steps_top1_log_probability():
    W_hq, b_q = _output_layer()
    H = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    logp = F.log_softmax(H @ W_hq + b_q, dim=1)
    logp.gather(1, logp.argmax(dim=1, keepdim=True)).sum().backward()  # rows are independent: one backward
    torch.testing.assert_close(top1_gradient(H.detach(), W_hq, b_q), H.grad, rtol=1e-12, atol=1e-14)


def test_norms_back_records_the_norm_at_each_step_from_the_target_down():
    seen: list[int] = []

    def halve(g: torch.Tensor, t: int) -> torch.Tensor:
        seen.append(t)
        return g / 2

    norms = norms_back(torch.tensor([3.0, 4.0]), 3, halve)
    assert list(norms) == [0.625, 1.25, 2.5, 5.0] and seen == [3, 2, 1, 0]


def test_a_target_needs_a_next_token():
    check_target([1, 2, 3], 1)
    for target in (-1, 2):
        with pytest.raises(ValueError, match="target step must be in 0..1"):
            check_target([1, 2, 3], target)


def test_free_share_passes_one_minus_the_strength_where_and_when_a_gate_is_forced():
    force = GateForce(0.5, units=(1, 3), steps=(2, 4))
    assert force.free_share(1, 4, 0.25).tolist() == [1, 1, 1, 1]  # before the forced steps
    assert force.free_share(2, 4, 0.25).tolist() == [1, 0.75, 1, 0.75]
    assert GateForce(1.0).free_share(9, 3).tolist() == [0, 0, 0]  # held everywhere: nothing passes
    assert GateForce().free_share(0, 2, 0.5).tolist() == [1, 1]  # free
