"""Forcing strength: each forced gate blended as (1 − s)·free + s·forced, in the forward pass, the trace, the
perplexity, training (textbook and fast doors), attribution's gradient and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gru_viz.fast import fast_step, fast_trace
from gru_viz.nets.model import PARAM_NAMES, PRESETS, Forcing, ForcingError, GateForce, GRUScratch
from gru_viz.train import TrainConfig, textbook_step

V, H, B, T = 7, 5, 3, 6
CUSTOM = dict(reset=GateForce(0.3, units=(0, 2), steps=(1, 4)), update=GateForce(0.8, units=(1, 2, 4), steps=(2, 6)))


def _model(seed: int = 0, scale: float = 0.5) -> GRUScratch:
    g = torch.Generator().manual_seed(seed)
    m = GRUScratch(V, H, generator=g).double()
    with torch.no_grad():  # gates far from 0.5, so a wrong blend shows
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return m


def _inputs(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _by_hand(m: GRUScratch, X: np.ndarray, H0: np.ndarray, r, z, s: float) -> np.ndarray:
    """The chapter's equations in NumPy with the blend written out: gate = (1 − s)·free + s·value, all units."""
    p = {k: v.detach().numpy() for k, v in m.params().items()}
    Hs, out = H0, []
    for t in range(X.shape[1]):
        x = np.eye(V)[X[:, t]]
        Z = _sig(x @ p["W_xz"] + Hs @ p["W_hz"] + p["b_z"])
        R = _sig(x @ p["W_xr"] + Hs @ p["W_hr"] + p["b_r"])
        Z = Z if z is None else (1 - s) * Z + s * z
        R = R if r is None else (1 - s) * R + s * r
        Ht = np.tanh(x @ p["W_xh"] + (R * Hs) @ p["W_hh"] + p["b_h"])
        Hs = Z * Hs + (1 - Z) * Ht
        out.append(Hs)
    return np.stack(out)


@pytest.mark.parametrize("preset", ["plain_rnn", "frozen_memory", "amnesia"])
def test_strength_one_is_exactly_todays_forcing_and_zero_exactly_free(preset):
    m, X = _model(), _inputs()
    H0 = torch.randn(B, H, dtype=torch.float64)
    f = PRESETS[preset]
    assert f.strength == 1.0
    _, _, held = m(X, H0, f, record=True)
    _, _, one = m(X, H0, Forcing(f.reset, f.update, strength=1), record=True)
    _, _, free = m(X, H0, record=True)
    _, _, zero = m(X, H0, Forcing(f.reset, f.update, strength=0.0), record=True)
    for k in ("R", "Z", "H_tilde", "H", "logits"):
        assert torch.equal(getattr(one, k), getattr(held, k))
        assert torch.equal(getattr(zero, k), getattr(free, k))


def test_strength_half_matches_a_hand_computation():
    m, X = _model(), _inputs()
    H0 = torch.randn(B, H, dtype=torch.float64)
    _, _, tr = m(X, H0, Forcing.gates(r=1.0, z=0.0, strength=0.5), record=True)
    np.testing.assert_allclose(tr.H.numpy(), _by_hand(m, X.numpy(), H0.numpy(), 1.0, 0.0, 0.5), rtol=1e-13,
                               atol=1e-15)
    # the blended gates are what is recorded: halfway between free and forced, so neither
    _, _, free = m(X, H0, record=True)
    torch.testing.assert_close(tr.Z[0], 0.5 * free.Z[0], rtol=1e-15, atol=0)
    assert not torch.equal(tr.H, free.H)


def test_strength_applies_only_to_forced_units_and_steps():
    m, X = _model(), _inputs()
    H0 = torch.zeros(B, H, dtype=torch.float64)
    _, _, free = m(X, H0, record=True)
    _, _, tr = m(X, H0, Forcing(**CUSTOM, strength=0.25), record=True)
    assert torch.equal(tr.H[:1], free.H[:1])  # nothing forced before step 1
    # at step 1 only R's units 0 and 2 are blended; Z is free (its range starts at 2) and so is every other R
    torch.testing.assert_close(tr.R[1][:, [0, 2]], 0.75 * free.R[1][:, [0, 2]] + 0.25 * 0.3, rtol=1e-15, atol=0)
    assert torch.equal(tr.R[1][:, [1, 3, 4]], free.R[1][:, [1, 3, 4]])
    assert torch.equal(tr.Z[1], free.Z[1])


def test_strength_is_validated_with_a_clear_message():
    for bad in (-0.1, 1.01, float("nan"), float("inf"), "0.5", True):
        with pytest.raises(ForcingError, match="strength must lie in"):
            Forcing.gates(r=1.0, strength=bad)


def test_the_page_describes_the_strength_in_its_language():
    from gru_viz.ui.actions import describe_forcing
    from gru_viz.ui.view import View

    assert describe_forcing(View("en"), Forcing.gates(r=1.0, strength=0.5)) == "R=1, strength 0.5"
    assert describe_forcing(View("zh"), Forcing.gates(r=1.0, strength=0.5)) == "R=1, 强度 0.5"
    assert describe_forcing(View("en"), Forcing.gates(r=1.0)) == "R=1"


def test_training_config_keeps_the_strength():
    cfg = TrainConfig(forcing=Forcing.gates(z=1.0, strength=0.4))
    assert TrainConfig.from_dict(cfg.to_dict()).forcing == cfg.forcing
    assert "strength" not in TrainConfig(forcing=PRESETS["amnesia"]).to_dict()["forcing"]  # old metadata unchanged


def test_fast_doors_compute_the_textbook_numbers_below_full_strength():
    """Below strength 1 the fast doors give the textbook's numbers (the PyTorch loops compute the blend; the kernel
    is left out: tests/test_fast.py::test_strength_below_one_matches_textbook_and_autograd, per set of loops)."""
    f = Forcing(**CUSTOM, strength=0.5)
    m1, m2 = _model(scale=0.3), _model(scale=0.3)
    X, Y = _inputs(), _inputs(seed=9)
    H0 = torch.randn(B, H, dtype=torch.float64)
    loss1, s1 = textbook_step(m1, X, Y, H0.clone(), 0.5, 1.0, f)
    loss2, s2 = fast_step(m2, X, Y, H0.clone(), 0.5, 1.0, f)
    assert loss2 == pytest.approx(loss1, rel=1e-12)
    torch.testing.assert_close(s2, s1, rtol=1e-12, atol=1e-13)
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(m2, n), getattr(m1, n), rtol=1e-11, atol=1e-13, msg=n)
    _, _, ref = _model()(X, H0, f, record=True)
    got = fast_trace(_model(), X, f, state=H0)
    for k in ("R", "Z", "H_tilde", "H", "logits"):
        torch.testing.assert_close(getattr(got, k), getattr(ref, k), rtol=1e-12, atol=1e-13, msg=k)


def test_textbook_training_under_half_strength_gets_gradient_through_the_blend():
    """Autograd: at strength 1 a forced-everywhere gate's weights get no gradient; at 0.5 they get half the path."""
    m, X, Y = _model(scale=0.3), _inputs(), _inputs(seed=9)
    H0 = torch.zeros(B, H, dtype=torch.float64)
    for s, has_grad in ((1.0, False), (0.5, True)):
        logits, _, _ = m(X, H0, Forcing.gates(z=0.0, strength=s))
        loss = torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1))
        (g,) = torch.autograd.grad(loss, [m.W_hz], allow_unused=True)
        assert (g is not None and bool(g.abs().sum() > 0)) == has_grad


def test_cli_strength_reaches_the_trace(tmp_path, capsys):
    from gru_viz.cli import main

    corpus, ckpt = tmp_path / "c.txt", tmp_path / "m.safetensors"
    corpus.write_text("the time traveller was expounding a recondite matter to us\n" * 20, encoding="utf-8")
    assert main(["train", "--corpus", str(corpus), "--hidden", "8", "--epochs", "1", "--batch-size", "4",
                 "--num-steps", "8", "--strength", "0.5", "--force-z", "1", "--out", str(ckpt)]) == 0
    outs = {}
    for s in ("1", "0.5", "0"):
        out = tmp_path / f"t{s}.npz"
        assert main(["trace", "--checkpoint", str(ckpt), "--text", "time traveller", "--force-z", "0",
                     "--force-r", "1", "--strength", s, "--out", str(out)]) == 0
        outs[s] = np.load(out)
    free = tmp_path / "free.npz"
    assert main(["trace", "--checkpoint", str(ckpt), "--text", "time traveller", "--out", str(free)]) == 0
    assert np.all(outs["1"]["Z"] == 0) and np.all(outs["1"]["R"] == 1)
    np.testing.assert_array_equal(outs["0"]["H"], np.load(free)["H"])
    assert not np.array_equal(outs["0.5"]["H"], outs["1"]["H"]) and not np.array_equal(outs["0.5"]["H"],
                                                                                         outs["0"]["H"])
    assert main(["trace", "--checkpoint", str(ckpt), "--text", "x", "--strength", "2", "--out", str(free)]) == 2
    assert "strength must lie in [0, 1]" in capsys.readouterr().err
