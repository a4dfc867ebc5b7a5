"""The scratch GRU against an independent NumPy computation of the chapter's equations; recording; forcing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gru_viz.nets.model import PARAM_NAMES, PRESETS, Forcing, ForcingError, GateForce, GRUScratch, param_shapes

V, H, B, T = 7, 5, 3, 6


def _model(seed: int = 0, scale: float = 0.5, dtype=torch.float64) -> GRUScratch:
    g = torch.Generator().manual_seed(seed)
    m = GRUScratch(V, H, generator=g).to(dtype)
    with torch.no_grad():  # larger than d2l's 0.01 init so the gates are far from 0.5 and the test is sharp
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * scale)
    return m


def _inputs(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_gru(p: dict, X: np.ndarray, H: np.ndarray, force_r=None, force_z=None):
    """The chapter's equations, written independently with NumPy, one step at a time."""
    out = {"R": [], "Z": [], "Ht": [], "H": [], "Y": []}
    for t in range(X.shape[1]):
        x = np.eye(V)[X[:, t]]  # one-hot (batch, vocab)
        Z = sigmoid(x @ p["W_xz"] + H @ p["W_hz"] + p["b_z"])
        R = sigmoid(x @ p["W_xr"] + H @ p["W_hr"] + p["b_r"])
        if force_z is not None:
            Z = np.full_like(Z, force_z)
        if force_r is not None:
            R = np.full_like(R, force_r)
        Ht = np.tanh(x @ p["W_xh"] + (R * H) @ p["W_hh"] + p["b_h"])
        H = Z * H + (1 - Z) * Ht
        for k, v in (("R", R), ("Z", Z), ("Ht", Ht), ("H", H), ("Y", H @ p["W_hq"] + p["b_q"])):
            out[k].append(v)
    return {k: np.stack(v) for k, v in out.items()}


def plain_rnn(p: dict, X: np.ndarray, H: np.ndarray) -> np.ndarray:
    """d2l's RNN from scratch: H = tanh(X W_xh + H W_hh + b_h)."""
    hs = []
    for t in range(X.shape[1]):
        H = np.tanh(np.eye(V)[X[:, t]] @ p["W_xh"] + H @ p["W_hh"] + p["b_h"])
        hs.append(H)
    return np.stack(hs)


def _np_params(m):
    return {k: v.detach().numpy() for k, v in m.params().items()}


def test_shapes_names_and_init():
    m = GRUScratch(28, 256, generator=torch.Generator().manual_seed(0))
    assert tuple(m.params()) == PARAM_NAMES
    for name, shape in param_shapes(28, 256).items():
        p = getattr(m, name)
        assert tuple(p.shape) == shape
        if name.startswith("b_"):
            assert torch.count_nonzero(p) == 0
        else:
            assert abs(float(p.detach().std()) - 0.01) < 0.002 and abs(float(p.detach().mean())) < 0.002
    assert param_shapes(28, 256)["W_xz"] == (28, 256) and param_shapes(28, 256)["W_hq"] == (256, 28)


def test_forward_equals_independent_equations():
    m, X = _model(), _inputs()
    H0 = torch.randn(B, H, dtype=torch.float64)
    logits, state, tr = m(X, H0, record=True)
    ref = numpy_gru(_np_params(m), X.numpy(), H0.numpy())
    np.testing.assert_allclose(tr.R.numpy(), ref["R"], rtol=1e-12)
    np.testing.assert_allclose(tr.Z.numpy(), ref["Z"], rtol=1e-12)
    np.testing.assert_allclose(tr.H_tilde.numpy(), ref["Ht"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tr.H.numpy(), ref["H"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(logits.detach().numpy(), ref["Y"].reshape(T * B, V), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state.detach().numpy(), ref["H"][-1], rtol=1e-12)
    # the reset gate acts before the matmul (d2l), not after it (torch.nn.GRU): make sure the two differ here
    assert not np.allclose(ref["R"], 1.0)


def test_recording_shapes_and_ranges():
    m, X = _model(dtype=torch.float32), _inputs()
    _, _, tr = m(X, m.begin_state(B), record=True)
    for name in ("R", "Z", "H_tilde", "H"):
        assert getattr(tr, name).shape == (T, B, H)
    assert tr.logits.shape == (T, B, V)
    assert float(tr.R.min()) > 0 and float(tr.R.max()) < 1
    assert float(tr.Z.min()) > 0 and float(tr.Z.max()) < 1
    assert float(tr.H_tilde.abs().max()) < 1 and float(tr.H.abs().max()) < 1
    assert torch.equal(tr.H_prev[0], tr.H0) and torch.equal(tr.H_prev[1:], tr.H[:-1])
    _, _, none = m(X, m.begin_state(B))
    assert none is None


def test_plain_rnn_forcing_is_exactly_a_plain_rnn():
    m, X = _model(), _inputs()
    H0 = torch.randn(B, H, dtype=torch.float64)
    _, _, tr = m(X, H0, PRESETS["plain_rnn"], record=True)
    np.testing.assert_allclose(tr.H.numpy(), plain_rnn(_np_params(m), X.numpy(), H0.numpy()), rtol=1e-13, atol=1e-15)
    assert torch.all(tr.Z == 0) and torch.all(tr.R == 1)  # forced values are recorded as used
    # and the numpy GRU with the same forcing agrees
    ref = numpy_gru(_np_params(m), X.numpy(), H0.numpy(), force_r=1.0, force_z=0.0)
    np.testing.assert_allclose(tr.H.numpy(), ref["H"], rtol=1e-12)


def test_update_gate_one_freezes_the_state():
    m, X = _model(), _inputs()
    H0 = torch.randn(B, H, dtype=torch.float64)
    _, state, tr = m(X, H0, PRESETS["frozen_memory"], record=True)
    assert torch.equal(state, H0)
    assert torch.equal(tr.H, H0.expand(T, B, H))


def test_amnesia_makes_candidate_ignore_the_past():
    m, X = _model(), _inputs()
    H0 = torch.randn(B, H, dtype=torch.float64)
    _, _, tr = m(X, H0, PRESETS["amnesia"], record=True)
    p = _np_params(m)
    expected = np.tanh(np.eye(V)[X.numpy().T] @ p["W_xh"] + p["b_h"])  # (T, B, H): input only
    np.testing.assert_allclose(tr.H_tilde.numpy(), expected, rtol=1e-12)


def test_unit_subset_and_step_range():
    m, X = _model(), _inputs()
    H0 = torch.zeros(B, H, dtype=torch.float64)
    units, steps = (1, 3), (2, 4)
    f = Forcing(update=GateForce(0.25, units, steps))
    _, _, free = m(X, H0, record=True)
    _, _, tr = m(X, H0, f, record=True)
    other = [u for u in range(H) if u not in units]
    assert torch.all(tr.Z[2:4][:, :, list(units)] == 0.25)
    assert not torch.any(tr.Z[2:4][:, :, other] == 0.25)
    # before the range nothing changes; after it the gates are free again (but see a different state)
    assert torch.equal(tr.H[:2], free.H[:2])
    assert not torch.any(tr.Z[4:] == 0.25)
    assert not torch.allclose(tr.H[4:], free.H[4:])
    # start_step shifts the absolute time index: a range [2, 4) hits local steps 0-1 when starting at 2
    _, _, shifted = m(X[:, :3], H0, f, record=True, start_step=2)
    assert torch.all(shifted.Z[:2][:, :, list(units)] == 0.25) and not torch.any(shifted.Z[2] == 0.25)


def test_forcing_validation():
    with pytest.raises(ForcingError):
        GateForce(1.5)
    with pytest.raises(ForcingError):
        GateForce(float("nan"))
    with pytest.raises(ForcingError):
        GateForce(0.5, steps=(4, 2))
    m, X = _model(), _inputs()
    with pytest.raises(ForcingError, match="hidden size"):
        m(X, m.begin_state(B), Forcing(reset=GateForce(1.0, units=(H,))))


@pytest.mark.parametrize(
    "forcing", [PRESETS["free"], PRESETS["plain_rnn"], Forcing(reset=GateForce(0.3, (0, 2), (1, 4)))]
)
def test_gradients_match_finite_differences(forcing):
    """Autograd through the step-by-step forward (what the textbook trainer uses) is right, forcing included."""
    m, X = _model(scale=0.3), _inputs()
    Y = _inputs(seed=9)
    H0 = torch.randn(B, H, dtype=torch.float64)
    names = list(PARAM_NAMES)

    def loss_of(*tensors):
        # rebuild the computation functionally so gradcheck sees the inputs
        p = dict(zip(names, tensors))
        Hs = H0
        out = []
        for i in range(T):
            x = torch.nn.functional.one_hot(X[:, i], V).double()
            z = torch.sigmoid(x @ p["W_xz"] + Hs @ p["W_hz"] + p["b_z"])
            z = forcing.update.apply(z, i, forcing.update.unit_mask(H, z.device))
            r = torch.sigmoid(x @ p["W_xr"] + Hs @ p["W_hr"] + p["b_r"])
            r = forcing.reset.apply(r, i, forcing.reset.unit_mask(H, r.device))
            ht = torch.tanh(x @ p["W_xh"] + (r * Hs) @ p["W_hh"] + p["b_h"])
            Hs = z * Hs + (1 - z) * ht
            out.append(Hs @ p["W_hq"] + p["b_q"])
        return torch.nn.functional.cross_entropy(torch.cat(out), Y.T.reshape(-1))

    inputs = tuple(getattr(m, n).detach().clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(loss_of, inputs, eps=1e-6, atol=1e-6)
    # the module's own forward gives the same gradients as this functional copy
    ref = torch.autograd.grad(loss_of(*inputs), inputs, allow_unused=True)
    m2 = _model(scale=0.3)
    logits, _, _ = m2(X, H0, forcing)
    loss = torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1))
    got = torch.autograd.grad(loss, [getattr(m2, n) for n in names], allow_unused=True)
    for name, r, g in zip(names, ref, got):
        if r is None:  # a gate forced everywhere passes no gradient to its parameters
            assert g is None and forcing.active
            continue
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)

