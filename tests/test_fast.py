"""The fast path against d2l's textbook step and autograd: forcing (held and blended), clipping, carried state,
traces, the Trainer, a plain RNN's steps that compute no gate. The loops' kernels: test_fast_loops.py; the build:
test_fast_build.py; the bench: test_bench.py."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from fast_cases import FORCINGS, GATE_PARAMS, B, H, T, V, assert_same_params, make_batch, make_model
from fast_loops import FAST, install_spies, require, run_on
from helpers import autograd_sgd_update

from gru_viz.data import make_corpus
from gru_viz.fast import fast_step, fast_trace, run_step
from gru_viz.nets.model import PARAM_NAMES, PRESETS, Forcing, ForcingError, GateForce
from gru_viz.train import TrainConfig, Trainer, textbook_step


@pytest.fixture
def ran(monkeypatch):
    """This test's count of steps by the loops that really ran them."""
    return install_spies(monkeypatch)


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
@pytest.mark.parametrize("clip", [1e-2, 1e3], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("name", list(FORCINGS))
def test_matches_textbook_and_autograd_float64(name, clip, loops, ran):
    require(loops, torch.float64, V, B)
    forcing = FORCINGS[name]
    ref, fast = make_model(), make_model()
    X, Y, state = make_batch()
    expected, norm, exp_loss = autograd_sgd_update(ref, X, Y, state, 0.7, clip, forcing)
    assert (norm > clip) == (clip < 1)
    loss_t, state_t = textbook_step(ref, X, Y, state, 0.7, clip, forcing)
    loss_f, state_f = run_on(loops, ran, fast, X, Y, state, 0.7, clip, forcing)
    assert loss_f == pytest.approx(exp_loss, rel=1e-12) and loss_f == pytest.approx(loss_t, rel=1e-12)
    torch.testing.assert_close(state_f, state_t, rtol=1e-12, atol=1e-13)
    assert not state_f.requires_grad and state_f.dtype == torch.float64
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(fast, n).detach(), expected[n], rtol=1e-11, atol=1e-13, msg=n)
    assert_same_params(fast, ref, rtol=1e-11, atol=1e-13)


BLENDS = {  # forcing below full strength: each forced gate is (1 − s)·free + s·value
    "units_and_steps_half": Forcing(reset=GateForce(0.3, units=(0, 2), steps=(1, 4)),
                                    update=GateForce(0.8, units=(1, 2, 4), steps=(2, 6)), strength=0.5),
    "plain_rnn_0.3": Forcing(reset=GateForce(1.0), update=GateForce(0.0), strength=0.3),
    "amnesia_0.9": dataclasses.replace(PRESETS["amnesia"], strength=0.9),
}


@pytest.mark.parametrize("loops", FAST)
@pytest.mark.parametrize("name", list(BLENDS))
def test_strength_below_one_matches_textbook_and_autograd(name, loops, ran):
    """The PyTorch loops compute the blend and its gradient (σ' of the free gate, times 1 − s): float64 row-major
    equals autograd to 1e-11; float32 feature-major is as close to the float64 textbook as the float32 textbook
    is. The C++ kernel holds gates at their value only: asked for, it refuses; choose_loops leaves it out."""
    forcing = BLENDS[name]
    batch = 8
    if loops == "cpp":
        require(loops, torch.float64, V, batch)
        from gru_viz.fast import choice

        shapes = choice.Shapes("cpu", "float64", V, batch, H, 1)
        assert "strength" in choice.why_not("cpp", shapes, forcing.strength)
        assert "cpp" not in choice.candidates(shapes, forcing.strength) and "cpp" in choice.candidates(shapes)
        X, Y, state = make_batch(batch=batch)
        with pytest.raises(ValueError, match="strength"):
            run_step(make_model(), X, Y, state, 0.7, 1.0, forcing, loops="cpp")
        return
    dtype = torch.float64 if loops == "torch-rows" else torch.float32
    require(loops, dtype, V, batch)
    truth = make_model()
    ref, fast = copy.deepcopy(truth).to(dtype), copy.deepcopy(truth).to(dtype)
    X, Y, state = make_batch(batch=batch)
    s_truth, s_ref, s_fast = state, state.to(dtype), state.to(dtype)
    for clip in (1e-2, 1e3):
        expected, _, exp_loss = autograd_sgd_update(truth, X, Y, s_truth, 0.7, clip, forcing)
        loss_64, s_truth = textbook_step(truth, X, Y, s_truth, 0.7, clip, forcing)
        assert loss_64 == pytest.approx(exp_loss, rel=1e-12)
        textbook_step(ref, X, Y, s_ref, 0.7, clip, forcing)
        loss_f, s_fast = run_on(loops, ran, fast, X, Y, s_fast, 0.7, clip, forcing)
        if dtype == torch.float64:
            assert loss_f == pytest.approx(loss_64, rel=1e-12)
            torch.testing.assert_close(s_fast, s_truth, rtol=1e-12, atol=1e-13)
            for n in PARAM_NAMES:
                torch.testing.assert_close(getattr(fast, n).detach(), expected[n], rtol=1e-11, atol=1e-13, msg=n)
        else:
            assert loss_f == pytest.approx(loss_64, rel=1e-5)
    for n in PARAM_NAMES:
        exact = getattr(truth, n).detach()
        err_textbook = float((getattr(ref, n).detach().double() - exact).abs().max())
        err_fast = float((getattr(fast, n).detach().double() - exact).abs().max())
        assert err_fast <= 4 * err_textbook + 1e-6, (n, err_fast, err_textbook)


@pytest.mark.parametrize("name", list(BLENDS))
def test_trace_below_full_strength_equals_the_recorded_forward(name, ran):
    m = make_model()
    X, _, state = make_batch()
    with torch.no_grad():
        _, _, ref = m(X, state, BLENDS[name], record=True, start_step=1)
    tr = fast_trace(m, X, BLENDS[name], state=state, start_step=1)
    assert ran == {"torch-rows": 1}  # the kernel, built or not, is not asked below full strength
    for k in ("R", "Z", "H_tilde", "H", "logits"):
        torch.testing.assert_close(getattr(tr, k), getattr(ref, k), rtol=1e-12, atol=1e-13, msg=k)


def test_input_weights_change_only_in_the_rows_of_tokens_present():
    # The PyTorch loops give W_x* a gradient only for the tokens in the minibatch: the update must still equal
    # autograd's, and the other rows must stay exactly as they were.
    ref, fast = make_model(vocab=40), make_model(vocab=40)
    X, Y, state = make_batch(vocab=40)
    X = torch.tensor([3, 5, 17, 39])[X % 4]  # four of the forty tokens
    before = {n: getattr(fast, n).detach().clone() for n in ("W_xz", "W_xr", "W_xh")}
    expected, _, _ = autograd_sgd_update(ref, X, Y, state, 0.7, 1e-2, FORCINGS["free"])
    run_step(fast, X, Y, state, 0.7, 1e-2, FORCINGS["free"], loops="torch-rows")
    absent = [i for i in range(40) if i not in (3, 5, 17, 39)]
    for n, old in before.items():
        assert torch.equal(getattr(fast, n)[absent], old[absent]), n
        assert not torch.equal(getattr(fast, n)[[3, 5, 17, 39]], old[[3, 5, 17, 39]]), n
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(fast, n).detach(), expected[n], rtol=1e-11, atol=1e-13, msg=n)


@pytest.mark.parametrize("loops", FAST)
@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
def test_matches_textbook_float32(name, loops, ran):
    require(loops, torch.float32, V, 8)
    forcing = FORCINGS[name]
    ref, fast = make_model(torch.float32), make_model(torch.float32)
    X, Y, state = make_batch(torch.float32, batch=8)
    for clip in (1e-2, 1e3):
        loss_t, state_t = textbook_step(ref, X, Y, state, 1.0, clip, forcing)
        loss_f, state_f = run_on(loops, ran, fast, X, Y, state, 1.0, clip, forcing)
        assert loss_f == pytest.approx(loss_t, rel=1e-5)
        torch.testing.assert_close(state_f, state_t, rtol=1e-5, atol=1e-6)
        assert_same_params(fast, ref, rtol=1e-5, atol=1e-6)


def test_forced_gate_passes_no_gradient_to_its_weights():
    fast = make_model()
    before = {n: getattr(fast, n).detach().clone() for n in PARAM_NAMES}
    X, Y, state = make_batch()
    run_step(fast, X, Y, state, 1.0, 1e3, PRESETS["plain_rnn"], loops="torch-rows")
    for n in ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r"):
        assert torch.equal(getattr(fast, n).detach(), before[n]), n
    for n in ("W_xh", "W_hh", "b_h", "W_hq", "b_q"):
        assert not torch.equal(getattr(fast, n).detach(), before[n]), n




@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
def test_a_plain_rnn_never_reads_the_gates_weights(loops, ran):
    """Z=0, R=1 on every unit and step: the gates' products are skipped forward and backward, so the forced GRU
    trains at a plain RNN's cost. Shown with NaN gate weights, which any product with them would spread: the step
    stays finite and equal to the textbook's (whose forced gates are constants too), on the PyTorch loops and, where
    built, the C++ ones (feature-major: test_feature_major_step_skips_a_plain_rnns_gates)."""
    require(loops, torch.float64, V, B)
    _assert_plain_rnn_skips_the_gates(loops, ran)


def _assert_plain_rnn_skips_the_gates(loops: str, ran) -> None:
    ref, model = make_model(), make_model()
    with torch.no_grad():
        for m in (ref, model):
            for n in GATE_PARAMS:
                getattr(m, n).fill_(float("nan"))
    X, Y, state = make_batch()
    loss_t, state_t = textbook_step(ref, X, Y, state, 0.7, 1.0, PRESETS["plain_rnn"])
    loss_f, state_f = run_on(loops, ran, model, X, Y, state, 0.7, 1.0, PRESETS["plain_rnn"])
    assert math.isfinite(loss_f) and loss_f == pytest.approx(loss_t, rel=1e-12), loops
    torch.testing.assert_close(state_f, state_t, rtol=1e-12, atol=1e-13)
    for n in set(PARAM_NAMES) - set(GATE_PARAMS):
        torch.testing.assert_close(getattr(model, n).detach(), getattr(ref, n).detach(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
def test_state_carried_across_minibatches(loops, ran):
    require(loops, torch.float64, V, B)
    ref, fast = make_model(), make_model()
    gen = torch.Generator().manual_seed(5)
    s_ref = s_fast = torch.zeros(B, H, dtype=torch.float64)
    forcing = FORCINGS["both_units_and_steps"]
    for _ in range(4):
        X, Y = torch.randint(0, V, (B, T), generator=gen), torch.randint(0, V, (B, T), generator=gen)
        l_ref, s_ref = textbook_step(ref, X, Y, s_ref, 0.5, 1.0, forcing)
        l_fast, s_fast = run_on(loops, ran, fast, X, Y, s_fast, 0.5, 1.0, forcing)
        assert l_fast == pytest.approx(l_ref, rel=1e-11)
    torch.testing.assert_close(s_fast, s_ref, rtol=1e-11, atol=1e-12)
    assert_same_params(fast, ref, rtol=1e-10, atol=1e-12)


def test_one_step_one_row_and_bad_units():
    ref, fast = make_model(), make_model()
    X, Y, state = make_batch(batch=1, steps=1)
    assert run_step(fast, X, Y, state, 1.0, 1.0, Forcing(), loops="torch-rows")[0] == pytest.approx(
        textbook_step(ref, X, Y, state, 1.0, 1.0, Forcing())[0], rel=1e-12)
    assert_same_params(fast, ref, rtol=1e-11, atol=1e-13)
    with pytest.raises(ForcingError, match="hidden size"):
        run_step(fast, X, Y, state, 1.0, 1.0, Forcing(reset=GateForce(0.5, units=(H,))), loops="torch-rows")


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
@pytest.mark.parametrize("start_step", [0, 2])
def test_fast_trace_equals_recorded_forward(name, start_step, loops, ran):
    require(loops, torch.float64, V, B)
    m = make_model()
    X, _, state = make_batch()
    with torch.no_grad():
        logits, _, ref = m(X, state, FORCINGS[name], record=True, start_step=start_step)
    tr = fast_trace(m, X, FORCINGS[name], state=state, start_step=start_step, loops=loops)
    assert ran == {loops: 1}
    for k in ("R", "Z", "H_tilde", "H", "logits", "H0", "H_prev"):
        torch.testing.assert_close(getattr(tr, k), getattr(ref, k), rtol=1e-12, atol=1e-13, msg=k)
    assert tr.logits.shape == (T, B, V)
    zero = fast_trace(m, X[:1], FORCINGS[name])  # default: a zero state, as trace_text uses
    assert torch.count_nonzero(zero.H0) == 0 and zero.H.shape == (T, 1, H)


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_position_order_is_block_by_block_then_step_then_row(blocks):
    from gru_viz.fast.step import _positions

    B, T = 7, 4
    order, last = _positions(B, T, blocks)
    data = torch.arange(B * T).view(B, T)  # data[b, t] = its flat index
    assert sorted(order.tolist()) == list(range(B * T))
    if blocks == 1:
        assert torch.equal(order, data.T.reshape(-1))  # d2l's time-major order
    rows = data.reshape(-1)[order] // T
    steps = data.reshape(-1)[order] % T
    starts = [0, *torch.cumsum(torch.tensor([B // blocks + (k < B % blocks) for k in range(blocks)]), 0).tolist()]
    for k in range(blocks):  # each block: its own rows, step by step
        lo, hi = starts[k] * T, starts[k + 1] * T
        assert set(rows[lo:hi].tolist()) == set(range(starts[k], starts[k + 1]))
        assert steps[lo:hi].tolist() == sorted(steps[lo:hi].tolist())
    assert torch.equal(order[last], data[:, -1])  # the last step's positions, in row order


def test_trainer_with_fast_engine_matches_textbook():
    text = "the time traveller for so it will be convenient to speak of him was expounding a matter " * 12
    corpus = make_corpus(text, "small", max_tokens=0)
    runs = {}
    for engine in ("textbook", "fast"):
        cfg = TrainConfig(hidden=16, epochs=2, batch_size=4, num_steps=8, engine=engine,
                          forcing=Forcing.gates(z=0.3))
        t = Trainer(corpus.tokens, len(corpus.vocab), cfg)
        t.run()
        assert t.status == "finished"
        runs[engine] = t
    for a, b in zip(runs["fast"].history, runs["textbook"].history):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
    assert_same_params(runs["fast"].model, runs["textbook"].model, rtol=1e-4, atol=1e-6)


def test_fast_step_has_textbook_signature():
    import inspect

    assert list(inspect.signature(fast_step).parameters) == list(inspect.signature(textbook_step).parameters)
