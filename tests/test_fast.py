"""The fast path: hand-written BPTT equals textbook_step and autograd (forcing, clipping, carried state), the
compiled loops equal the pure-PyTorch ones (oneDNN or BLAS, TorchScript or not), a plain RNN's steps compute no
gate, and the benchmark runs. The build itself: tests/test_fast_build.py."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math

import pytest
import torch
from fast_loops import FAST, install_spies, require, run_on
from helpers import autograd_sgd_update

from gru_viz.data import make_corpus
from gru_viz.fast import ext as fast_ext
from gru_viz.fast import fast_step, fast_trace, run_step
from gru_viz.fast import step as fast
from gru_viz.fast import torch_fm as fast_fm
from gru_viz.fast import torch_rows as fast_torch
from gru_viz.model import PARAM_NAMES, PRESETS, Forcing, ForcingError, GateForce, GRUScratch
from gru_viz.train import TrainConfig, Trainer, textbook_step

V, H, B, T = 7, 12, 5, 6

FORCINGS = {
    "free": Forcing(),
    "plain_rnn": PRESETS["plain_rnn"],  # Z=0, R=1 everywhere
    "frozen_memory": PRESETS["frozen_memory"],
    "amnesia": PRESETS["amnesia"],
    "r_on_units": Forcing(reset=GateForce(0.25, units=(0, 3, 11))),
    "z_on_steps": Forcing(update=GateForce(0.6, steps=(2, 5))),
    "both_units_and_steps": Forcing(reset=GateForce(0.9, units=(1, 2), steps=(0, 3)),
                                    update=GateForce(0.1, units=(2, 7), steps=(3, 99))),
    "empty_step_range": Forcing(update=GateForce(0.5, steps=(40, 50))),  # beyond the minibatch: no effect
    "rnn_on_steps": Forcing(reset=GateForce(1.0, steps=(2, 4)), update=GateForce(0.0, steps=(1, 4))),  # some steps
}


def _model(dtype=torch.float64, seed=0, vocab=V, hidden=H) -> GRUScratch:
    gen = torch.Generator().manual_seed(seed)
    m = GRUScratch(vocab, hidden).to(dtype)
    with torch.no_grad():  # larger than d2l's init, so that every gradient is far from zero
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.4)
    return m


def _batch(dtype=torch.float64, seed=1, batch=B, steps=T, vocab=V, hidden=H):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randint(0, vocab, (batch, steps), generator=gen)
    Y = torch.randint(0, vocab, (batch, steps), generator=gen)
    state = torch.randn(batch, hidden, generator=gen, dtype=dtype) * 0.5
    return X, Y, state


@pytest.fixture
def ran(monkeypatch):
    """This test's count of steps by the loops that really ran them."""
    return install_spies(monkeypatch)


def _assert_same_params(a, b, rtol, atol):
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(a, n).detach(), getattr(b, n).detach(), rtol=rtol, atol=atol, msg=n)


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
@pytest.mark.parametrize("clip", [1e-2, 1e3], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("name", list(FORCINGS))
def test_matches_textbook_and_autograd_float64(name, clip, loops, ran):
    require(loops, torch.float64, V, B)
    forcing = FORCINGS[name]
    ref, fast = _model(), _model()
    X, Y, state = _batch()
    expected, norm, exp_loss = autograd_sgd_update(ref, X, Y, state, 0.7, clip, forcing)
    assert (norm > clip) == (clip < 1)
    loss_t, state_t = textbook_step(ref, X, Y, state, 0.7, clip, forcing)
    loss_f, state_f = run_on(loops, ran, fast, X, Y, state, 0.7, clip, forcing)
    assert loss_f == pytest.approx(exp_loss, rel=1e-12) and loss_f == pytest.approx(loss_t, rel=1e-12)
    torch.testing.assert_close(state_f, state_t, rtol=1e-12, atol=1e-13)
    assert not state_f.requires_grad and state_f.dtype == torch.float64
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(fast, n).detach(), expected[n], rtol=1e-11, atol=1e-13, msg=n)
    _assert_same_params(fast, ref, rtol=1e-11, atol=1e-13)


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
        X, Y, state = _batch(batch=batch)
        with pytest.raises(ValueError, match="strength"):
            run_step(_model(), X, Y, state, 0.7, 1.0, forcing, loops="cpp")
        return
    dtype = torch.float64 if loops == "torch-rows" else torch.float32
    require(loops, dtype, V, batch)
    truth = _model()
    ref, fast = copy.deepcopy(truth).to(dtype), copy.deepcopy(truth).to(dtype)
    X, Y, state = _batch(batch=batch)
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
    m = _model()
    X, _, state = _batch()
    with torch.no_grad():
        _, _, ref = m(X, state, BLENDS[name], record=True, start_step=1)
    tr = fast_trace(m, X, BLENDS[name], state=state, start_step=1)
    assert ran == {"torch-rows": 1}  # the kernel, built or not, is not asked below full strength
    for k in ("R", "Z", "H_tilde", "H", "logits"):
        torch.testing.assert_close(getattr(tr, k), getattr(ref, k), rtol=1e-12, atol=1e-13, msg=k)


def test_input_weights_change_only_in_the_rows_of_tokens_present():
    # The PyTorch loops give W_x* a gradient only for the tokens in the minibatch: the update must still equal
    # autograd's, and the other rows must stay exactly as they were.
    ref, fast = _model(vocab=40), _model(vocab=40)
    X, Y, state = _batch(vocab=40)
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
    ref, fast = _model(torch.float32), _model(torch.float32)
    X, Y, state = _batch(torch.float32, batch=8)
    for clip in (1e-2, 1e3):
        loss_t, state_t = textbook_step(ref, X, Y, state, 1.0, clip, forcing)
        loss_f, state_f = run_on(loops, ran, fast, X, Y, state, 1.0, clip, forcing)
        assert loss_f == pytest.approx(loss_t, rel=1e-5)
        torch.testing.assert_close(state_f, state_t, rtol=1e-5, atol=1e-6)
        _assert_same_params(fast, ref, rtol=1e-5, atol=1e-6)


def test_forced_gate_passes_no_gradient_to_its_weights():
    fast = _model()
    before = {n: getattr(fast, n).detach().clone() for n in PARAM_NAMES}
    X, Y, state = _batch()
    run_step(fast, X, Y, state, 1.0, 1e3, PRESETS["plain_rnn"], loops="torch-rows")
    for n in ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r"):
        assert torch.equal(getattr(fast, n).detach(), before[n]), n
    for n in ("W_xh", "W_hh", "b_h", "W_hq", "b_q"):
        assert not torch.equal(getattr(fast, n).detach(), before[n]), n


GATE_PARAMS = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r")


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
def test_a_plain_rnn_never_reads_the_gates_weights(loops, ran):
    """Z=0, R=1 on every unit and step: the gates' products are skipped forward and backward, so the forced GRU
    trains at a plain RNN's cost. Shown with NaN gate weights, which any product with them would spread: the step
    stays finite and equal to the textbook's (whose forced gates are constants too), on the PyTorch loops and, where
    built, the C++ ones (feature-major: test_feature_major_step_skips_a_plain_rnns_gates)."""
    require(loops, torch.float64, V, B)
    _assert_plain_rnn_skips_the_gates(loops, ran)


def _assert_plain_rnn_skips_the_gates(loops: str, ran) -> None:
    ref, model = _model(), _model()
    with torch.no_grad():
        for m in (ref, model):
            for n in GATE_PARAMS:
                getattr(m, n).fill_(float("nan"))
    X, Y, state = _batch()
    loss_t, state_t = textbook_step(ref, X, Y, state, 0.7, 1.0, PRESETS["plain_rnn"])
    loss_f, state_f = run_on(loops, ran, model, X, Y, state, 0.7, 1.0, PRESETS["plain_rnn"])
    assert math.isfinite(loss_f) and loss_f == pytest.approx(loss_t, rel=1e-12), loops
    torch.testing.assert_close(state_f, state_t, rtol=1e-12, atol=1e-13)
    for n in set(PARAM_NAMES) - set(GATE_PARAMS):
        torch.testing.assert_close(getattr(model, n).detach(), getattr(ref, n).detach(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
def test_state_carried_across_minibatches(loops, ran):
    require(loops, torch.float64, V, B)
    ref, fast = _model(), _model()
    gen = torch.Generator().manual_seed(5)
    s_ref = s_fast = torch.zeros(B, H, dtype=torch.float64)
    forcing = FORCINGS["both_units_and_steps"]
    for _ in range(4):
        X, Y = torch.randint(0, V, (B, T), generator=gen), torch.randint(0, V, (B, T), generator=gen)
        l_ref, s_ref = textbook_step(ref, X, Y, s_ref, 0.5, 1.0, forcing)
        l_fast, s_fast = run_on(loops, ran, fast, X, Y, s_fast, 0.5, 1.0, forcing)
        assert l_fast == pytest.approx(l_ref, rel=1e-11)
    torch.testing.assert_close(s_fast, s_ref, rtol=1e-11, atol=1e-12)
    _assert_same_params(fast, ref, rtol=1e-10, atol=1e-12)


def test_one_step_one_row_and_bad_units():
    ref, fast = _model(), _model()
    X, Y, state = _batch(batch=1, steps=1)
    assert run_step(fast, X, Y, state, 1.0, 1.0, Forcing(), loops="torch-rows")[0] == pytest.approx(
        textbook_step(ref, X, Y, state, 1.0, 1.0, Forcing())[0], rel=1e-12)
    _assert_same_params(fast, ref, rtol=1e-11, atol=1e-13)
    with pytest.raises(ForcingError, match="hidden size"):
        run_step(fast, X, Y, state, 1.0, 1.0, Forcing(reset=GateForce(0.5, units=(H,))), loops="torch-rows")


@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
@pytest.mark.parametrize("start_step", [0, 2])
def test_fast_trace_equals_recorded_forward(name, start_step, loops, ran):
    require(loops, torch.float64, V, B)
    m = _model()
    X, _, state = _batch()
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
    _assert_same_params(runs["fast"].model, runs["textbook"].model, rtol=1e-4, atol=1e-6)


# --- the C++ kernel against the PyTorch loops (the build's own tests: tests/test_fast_build.py) ------------


@pytest.mark.slow
def test_compiled_loops_equal_the_torch_path():
    """Builds the extension into the test cache (about a minute) when a compiler exists, then compares."""
    problem = fast_ext.compiler_problem()
    if problem:
        pytest.skip(problem)
    fast_ext.build_extension()
    assert fast_ext.load_extension() is not None
    for dtype, rtol, atol in ((torch.float64, 1e-11, 1e-13), (torch.float32, 1e-5, 1e-6)):
        for batch in (1, 3, 20, 21):  # one block, and several (equal or not) when there are threads for them
            for name in ("free", "plain_rnn", "both_units_and_steps", "r_on_units", "rnn_on_steps"):
                a, b = _model(dtype), _model(dtype)
                X, Y, state = _batch(dtype, batch=batch)
                for clip in (1e-2, 1e3):
                    la, sa = run_step(a, X, Y, state, 1.0, clip, FORCINGS[name], loops="cpp")
                    lb, sb = run_step(b, X, Y, state, 1.0, clip, FORCINGS[name], loops="torch-rows")
                    assert la == pytest.approx(lb, rel=rtol)
                    torch.testing.assert_close(sa, sb, rtol=rtol, atol=atol)
                    _assert_same_params(a, b, rtol, atol)
                ta = fast_trace(a, X, FORCINGS[name], state=state, start_step=1, loops="cpp")
                tb = fast_trace(a, X, FORCINGS[name], state=state, start_step=1, loops="torch-rows")
                for k in ("R", "Z", "H_tilde", "H", "logits"):
                    torch.testing.assert_close(getattr(ta, k), getattr(tb, k), rtol=rtol, atol=atol, msg=k)


# --- CUDA: the pure-PyTorch loops on the GPU ----------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


@cuda
@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
def test_cuda_step_matches_textbook_on_cpu(name):
    ref, fast = _model(), _model().cuda()
    X, Y, state = _batch()
    loss_t, state_t = textbook_step(ref, X, Y, state, 1.0, 1.0, FORCINGS[name])
    loss_f, state_f = fast_step(fast, X.cuda(), Y.cuda(), state.cuda(), 1.0, 1.0, FORCINGS[name])
    assert state_f.is_cuda and loss_f == pytest.approx(loss_t, rel=1e-10)
    torch.testing.assert_close(state_f.cpu(), state_t, rtol=1e-10, atol=1e-12)
    _assert_same_params(fast.cpu(), ref, rtol=1e-10, atol=1e-12)


@cuda
def test_cuda_float32_trace_and_trainer():
    m = _model(torch.float32)
    X, _, state = _batch(torch.float32)
    with torch.no_grad():
        _, _, ref = m(X, state, FORCINGS["plain_rnn"], record=True)
    tr = fast_trace(m.cuda(), X.cuda(), FORCINGS["plain_rnn"], state=state.cuda())
    torch.testing.assert_close(tr.H.cpu(), ref.H, rtol=1e-5, atol=1e-5)
    text = "the time traveller for so it will be convenient to speak of him " * 20
    corpus = make_corpus(text, "small", max_tokens=0)
    t = Trainer(corpus.tokens, len(corpus.vocab), TrainConfig(hidden=16, epochs=2, batch_size=4, num_steps=8,
                                                              engine="fast", device="cuda"))
    t.run()
    assert t.status == "finished" and t.model.W_hq.is_cuda


# --- the benchmark ------------------------------------------------------------------------------------------


def test_bench_times_every_path_and_passes_its_checks(tmp_path, capsys):
    """The benchmark's columns (textbook, the PyTorch fast path, nn.GRU; the C++ kernel only where built) and its
    equality checks; the app's cold start (a fresh process) is left out here and timed by the slow test below."""
    from gru_viz.bench import run_bench

    path = tmp_path / "small.txt"
    path.write_text("the time traveller for so it will be convenient to speak of him was expounding " * 30)
    args = argparse.Namespace(epochs=1, reps=2, hidden=16, corpus=str(path), device="cpu", json=True,
                              cold_start=False)
    assert run_bench(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    here = [n for n in FAST if fast_ext.load_extension() is not None or n != "cpp"]
    here = [n for n in here if n != "torch-fm" or fast_torch.onednn_available()]
    assert set(result["tokens_per_sec"]) == {"textbook", "nn.GRU"} | {f"fast ({n})" for n in here}
    assert result["loops"] in here and result["loops_reason"].startswith(result["loops"])
    assert result["pass"] and all(c["max_relative_difference"] <= 1e-5 for c in result["check"].values())
    assert all(r["median"] > 0 and r["per_cpu_second"] > 0 for r in result["tokens_per_sec"].values())
    assert result["trace"]["probe_chars"] == 1000 and "PASS" in out and "cold_start_s" not in result["app"]
    assert result["race"]["gru_tokens_per_sec"] > 0 and result["race"]["plain_rnn_tokens_per_sec"] > 0
    assert all(result["trace"][f"fast_trace_torch-rows_{forcing}_max_abs_diff"] < 1e-5
               for forcing in ("free", "forced", "partial"))


@pytest.mark.slow
def test_bench_cold_start_runs_the_app_to_its_first_charts():
    from gru_viz.bench import cold_start_seconds

    seconds = cold_start_seconds(timeout=240)
    assert math.isfinite(seconds) and seconds > 0  # NaN when the page raised or drew no chart


def test_fast_step_has_textbook_signature():
    import inspect

    assert list(inspect.signature(fast_step).parameters) == list(inspect.signature(textbook_step).parameters)


# --- the PyTorch path's kernels: oneDNN for float32 blocks, TorchScript or not, all with the same results --------


@pytest.mark.parametrize("loops", FAST)
@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps", "rnn_on_steps", "z_on_steps"])
@pytest.mark.parametrize("batch", [8, 24])
def test_float32_blocks_match_the_float64_textbook_as_closely_as_the_float32_textbook(name, batch, loops, ran):
    """Batches of 8+ rows in float32 (oneDNN's products on the PyTorch loops, where torch has them), on every set of
    loops. After three carried minibatches they are as close to the float64 textbook as the float32 textbook
    itself is (these large weights amplify float32 rounding, so both drift from the float64 result by about 1e-5)."""
    from gru_viz.fast.torch_rows import use_onednn

    require(loops, torch.float32, V, batch)
    forcing = FORCINGS[name]
    truth = _model(hidden=32)
    ref, fast = copy.deepcopy(truth).to(torch.float32), copy.deepcopy(truth).to(torch.float32)
    X, Y, state = _batch(batch=batch, steps=7, hidden=32)
    assert use_onednn(state.float(), batch) == fast_torch.onednn_available() and not use_onednn(state, batch)
    s_truth, s_ref, s_fast = state, state.float(), state.float()
    for clip in (1e-2, 1e3, 1.0):
        loss_64, s_truth = textbook_step(truth, X, Y, s_truth, 1.0, clip, forcing)
        loss_t, s_ref = textbook_step(ref, X, Y, s_ref, 1.0, clip, forcing)
        loss_f, s_fast = run_on(loops, ran, fast, X, Y, s_fast, 1.0, clip, forcing)
        assert loss_f == pytest.approx(loss_64, rel=1e-5) and loss_t == pytest.approx(loss_64, rel=1e-5)
    for n in PARAM_NAMES:
        exact = getattr(truth, n).detach()
        err_textbook = float((getattr(ref, n).detach().double() - exact).abs().max())
        err_fast = float((getattr(fast, n).detach().double() - exact).abs().max())
        assert err_fast <= 4 * err_textbook + 1e-6, (n, err_fast, err_textbook)
    assert ran[loops] == 3  # the loops named really ran each step (run_on checks each call too)


def test_feature_major_step_skips_a_plain_rnns_gates(ran):
    """The feature-major step computes no gate product forward or backward when every gate is forced: NaN gate
    weights stay out of the step, which equals the float32 textbook's (whose forced gates are constants)."""
    require("torch-fm", torch.float32, V, 8)
    ref, model = _model(torch.float32, hidden=16), _model(torch.float32, hidden=16)
    with torch.no_grad():
        for m in (ref, model):
            for n in GATE_PARAMS:
                getattr(m, n).fill_(float("nan"))
    X, Y, state = _batch(torch.float32, batch=8, hidden=16)
    loss_t, state_t = textbook_step(ref, X, Y, state, 0.7, 1.0, PRESETS["plain_rnn"])
    loss_f, state_f = run_on("torch-fm", ran, model, X, Y, state, 0.7, 1.0, PRESETS["plain_rnn"])
    assert math.isfinite(loss_f) and loss_f == pytest.approx(loss_t, rel=1e-6)
    torch.testing.assert_close(state_f, state_t, rtol=1e-5, atol=1e-6)
    for n in set(PARAM_NAMES) - set(GATE_PARAMS):
        torch.testing.assert_close(getattr(model, n).detach(), getattr(ref, n).detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["free", "both_units_and_steps", "plain_rnn"])
def test_feature_major_loops_run_compiled_and_eager_alike(name, monkeypatch, ran):
    """fast_fm's loops compiled by TorchScript (really compiled) and run as they are give the same step."""
    require("torch-fm", torch.float32, V, 9)
    compiled = fast_fm._loops()
    assert all(isinstance(f, torch.jit.ScriptFunction) for f in compiled)
    X, Y, state = _batch(torch.float32, batch=9, hidden=16)
    results = []
    for loops in (compiled, (fast_fm.forward_fm, fast_fm.backward_fm)):
        monkeypatch.setattr(fast_fm, "_loops", lambda loops=loops: loops)
        m = _model(torch.float32, hidden=16)
        results.append((run_on("torch-fm", ran, m, X, Y, state, 1.0, 1.0, FORCINGS[name]), m))
    (la, sa), a = results[0]
    (lb, sb), b = results[1]
    assert la == pytest.approx(lb, rel=1e-6)
    torch.testing.assert_close(sa, sb, rtol=1e-6, atol=1e-6)
    _assert_same_params(a, b, rtol=1e-6, atol=1e-6)


def test_onednn_off_and_on_give_the_same_step(monkeypatch):
    """The BLAS products (GRU_VIZ_ONEDNN=0) and oneDNN's give the same step to float32 rounding."""
    if not fast_torch.onednn_available():
        pytest.skip("this torch has no oneDNN linear kernel")
    X, Y, state = _batch(torch.float32, batch=16, hidden=24)
    results = []
    for onednn in (True, False):
        monkeypatch.setattr(fast_torch, "use_onednn", lambda like, rows, on=onednn: on and like.dtype == torch.float32)
        monkeypatch.setattr(fast, "use_onednn", fast_torch.use_onednn)
        m = _model(torch.float32, hidden=24)
        results.append((run_step(m, X, Y, state, 1.0, 1.0, FORCINGS["r_on_units"], loops="torch-rows"), m))
    (la, sa), a = results[0]
    (lb, sb), b = results[1]
    assert la == pytest.approx(lb, rel=1e-6)
    torch.testing.assert_close(sa, sb, rtol=1e-5, atol=1e-6)
    _assert_same_params(a, b, rtol=1e-5, atol=1e-6)


def _loops_once(forward, backward, dtype, onednn, forcing):
    """The forward and backward loops once on small random inputs, laid out as fast._forward lays them out;
    returns everything they fill."""
    from gru_viz.fast.torch_rows import operand

    Tn, Bn, h, Vn = 6, 9, 8, 4
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(0, Vn, (Tn * Bn,), generator=gen)
    w_x, b, h0 = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in ((Vn, 3 * h), 3 * h, (Bn, h)))
    w_zr, w_h = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) * 0.5 for s in ((h, 2 * h), (h, h)))
    zr = (w_x[:, : 2 * h][ids] + b[: 2 * h]).view(Tn, Bn, 2 * h)
    ht = (w_x[:, 2 * h :][ids] + b[2 * h :]).view(Tn, Bn, h)
    hs = torch.empty(Tn, Bn, h, dtype=dtype)
    rh = torch.empty(Tn, Bn, h, dtype=dtype)
    force = fast._force_rows(forcing, Tn, h, 0, h0)
    rows, of_step, whole = force[:3] if force else (None, [0] * Tn, [])
    forward(h0, operand(w_zr, onednn, Bn), operand(w_h, onednn, Bn), rows, of_step, whole, onednn, hs, zr, ht, rh)
    da_zr, da_h = torch.empty(Tn, Bn, 2 * h, dtype=dtype), torch.empty(Tn, Bn, h, dtype=dtype)
    room = [torch.empty(Tn, Bn, k * h, dtype=dtype) for k in (2, 1, 1)]
    keep, gates_forced = (None, []) if force is None else (force.per_step()[:, 0], force.gates_forced())
    backward(torch.ones_like(hs), torch.cat([h0[None], hs[:-1]]), zr, ht, operand(w_zr.T, onednn, Bn),
             operand(w_h.T, onednn, Bn), keep, gates_forced, onednn, da_zr, da_h, *room)
    return hs, zr, ht, rh.clone(), da_zr, da_h


@pytest.mark.parametrize("name", ["free", "both_units_and_steps", "plain_rnn"])
def test_loops_run_compiled_and_eager_alike(name):
    """TorchScript's compiled loops (both really compiled) and the same functions run as they are agree to the
    last bits of float64 rounding with BLAS, forcing included; with oneDNN's float32 products, to float32
    rounding."""
    from gru_viz.fast.torch_rows import backward_loop, compiled_backward, compiled_forward, forward_loop

    forcing = FORCINGS[name]
    compiled = compiled_forward(), compiled_backward()
    assert all(isinstance(f, torch.jit.ScriptFunction) for f in compiled)
    a = _loops_once(*compiled, torch.float64, False, forcing)
    b = _loops_once(forward_loop, backward_loop, torch.float64, False, forcing)
    if forcing.active:
        # [Z | R] of 8 units each: plain_rnn forces Z=0 everywhere, the other R=0.9 on units 1, 2 in steps 0-2
        assert torch.all(a[1][:, :, :8] == 0.0) if name == "plain_rnn" else torch.all(a[1][0:3, :, 9:11] == 0.9)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-13, atol=1e-14)
    if not fast_torch.onednn_available():
        return
    c = _loops_once(*compiled, torch.float32, True, forcing)
    d = _loops_once(forward_loop, backward_loop, torch.float32, True, forcing)
    for x, y, exact in zip(c, d, a):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(x.double(), exact, rtol=1e-4, atol=1e-5)
