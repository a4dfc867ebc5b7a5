"""Why-gates computations against independent ones: autograd, direct products, hand-made text, nn.GRU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from gru_viz.analysis import TorchConventionGRU, char_features, gradient_flow, memory_survival, rank_units
from gru_viz.model import PRESETS, Forcing, GateForce, GRUScratch

V, H = 6, 5


def _model(seed=0):
    g = torch.Generator().manual_seed(seed)
    m = GRUScratch(V, H, generator=g)
    with torch.no_grad():
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6)
    return m


def _autograd_norms(model, tokens, target, forcing):
    """Autograd, one step at a time: g_{t-1} = vjp(step_t, g_t), starting from dloss/dH_target."""
    m = model.double()
    h = m.begin_state(1)
    steps = []  # (input state H_{t-1} as a leaf, output H_t)
    for t in range(target + 1):
        h_in = h.detach().requires_grad_(True)
        _, h, _ = m(torch.tensor([[tokens[t]]]), h_in, forcing, start_step=t)
        steps.append((h_in, h))
    loss = F.cross_entropy(h @ m.W_hq + m.b_q, torch.tensor([tokens[target + 1]]))
    g = torch.autograd.grad(loss, h, retain_graph=True)[0]
    norms = [0.0] * (target + 1)
    for t in range(target, -1, -1):
        norms[t] = float(g.norm())
        h_in, h_out = steps[t]
        g = torch.autograd.grad(h_out, h_in, grad_outputs=g, retain_graph=True)[0]
    return np.array(norms)


@pytest.mark.parametrize("forcing", [PRESETS["free"], PRESETS["plain_rnn"], PRESETS["amnesia"],
                                     Forcing(update=GateForce(0.0, units=(1, 3), steps=(2, 6)))])
def test_gradient_flow_matches_autograd(forcing):
    m = _model()
    tokens = [1, 2, 3, 4, 5, 1, 2, 0, 3, 4]
    target = 8
    got = gradient_flow(m, tokens, target, forcing)
    want = _autograd_norms(_model(), tokens, target, forcing)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert m.W_hq.dtype == torch.float32  # the model passed in is not changed


def test_frozen_memory_passes_gradient_unchanged_through_the_copy_path():
    m = _model()
    tokens = [1, 2, 3, 4, 5, 1, 2]
    norms = gradient_flow(m, tokens, 5, PRESETS["frozen_memory"])
    np.testing.assert_allclose(norms, norms[-1])  # Z = 1: H_t = H_{t'} exactly, the Jacobian is the identity


def test_memory_survival_is_the_product_of_update_gates():
    rng = np.random.default_rng(0)
    Z = rng.random((8, 3))
    S = memory_survival(Z, 6)
    assert S.shape == (7, 3)
    for tp in range(7):
        np.testing.assert_allclose(S[tp], np.prod(Z[tp + 1 : 7], axis=0))
    np.testing.assert_array_equal(S[6], 1.0)
    np.testing.assert_allclose(memory_survival(np.zeros((5, 2)), 4)[:4], 0.0)  # Z = 0 forgets at once


def test_char_features_on_hand_made_text():
    f = char_features("ab cde f")
    np.testing.assert_array_equal(f["space"], [0, 0, 1, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(f["vowel"], [1, 0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(f["word start"], [1, 0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(f["word end"], [0, 1, 0, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(f["position in word"], [1, 2, 0, 1, 2, 3, 0, 1])


def test_rank_units_finds_the_planted_units():
    text = "the time traveller for so it will be convenient to speak of him"
    f = char_features(text)
    rng = np.random.default_rng(1)
    values = rng.normal(size=(len(text), 6)) * 0.3
    values[:, 4] = f["space"] * 2 - 1  # unit 4 fires on spaces
    values[:, 2] = -f["vowel"] + rng.normal(size=len(text)) * 0.05  # unit 2 is anti-vowel
    ranked = rank_units(values, text, top=3)
    assert (ranked[0].unit, ranked[0].feature) == (4, "space") and ranked[0].r == pytest.approx(1.0)
    assert (ranked[1].unit, ranked[1].feature) == (2, "vowel") and ranked[1].r < -0.9
    assert len({m.unit for m in ranked}) == 3


def test_torch_convention_cell_equals_nn_gru():
    torch.manual_seed(0)
    gru = torch.nn.GRU(V, H).double()
    cell = TorchConventionGRU(V, H).double().load_from(gru)
    x = F.one_hot(torch.randint(0, V, (7, 3)), V).double()
    h0 = torch.randn(1, 3, H, dtype=torch.float64)
    want, want_h = gru(x, h0)
    got, got_h = cell(x, h0[0])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_h, want_h[0], rtol=1e-12, atol=1e-12)
