"""The fast path's loops against each other: the C++ kernel against the PyTorch loops, the feature-major and
row-major PyTorch loops compiled by TorchScript or eager, oneDNN's products or BLAS, float32 blocks, and CUDA."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from fast_cases import FORCINGS, GATE_PARAMS, V, assert_same_params, make_batch, make_model
from fast_loops import FAST, install_spies, require, run_on

from gru_viz.data import make_corpus
from gru_viz.fast import ext as fast_ext
from gru_viz.fast import fast_step, fast_trace, run_step
from gru_viz.fast import step as fast
from gru_viz.fast import torch_fm as fast_fm
from gru_viz.fast import torch_rows as fast_torch
from gru_viz.nets.model import PARAM_NAMES, PRESETS
from gru_viz.train import TrainConfig, Trainer, textbook_step


@pytest.fixture
def ran(monkeypatch):
    """This test's count of steps by the loops that really ran them."""
    return install_spies(monkeypatch)


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
    truth = make_model(hidden=32)
    ref, fast = copy.deepcopy(truth).to(torch.float32), copy.deepcopy(truth).to(torch.float32)
    X, Y, state = make_batch(batch=batch, steps=7, hidden=32)
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
    ref, model = make_model(torch.float32, hidden=16), make_model(torch.float32, hidden=16)
    with torch.no_grad():
        for m in (ref, model):
            for n in GATE_PARAMS:
                getattr(m, n).fill_(float("nan"))
    X, Y, state = make_batch(torch.float32, batch=8, hidden=16)
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
    X, Y, state = make_batch(torch.float32, batch=9, hidden=16)
    results = []
    for loops in (compiled, (fast_fm.forward_fm, fast_fm.backward_fm)):
        monkeypatch.setattr(fast_fm, "_loops", lambda loops=loops: loops)
        m = make_model(torch.float32, hidden=16)
        results.append((run_on("torch-fm", ran, m, X, Y, state, 1.0, 1.0, FORCINGS[name]), m))
    (la, sa), a = results[0]
    (lb, sb), b = results[1]
    assert la == pytest.approx(lb, rel=1e-6)
    torch.testing.assert_close(sa, sb, rtol=1e-6, atol=1e-6)
    assert_same_params(a, b, rtol=1e-6, atol=1e-6)


def test_onednn_off_and_on_give_the_same_step(monkeypatch):
    """The BLAS products (GRU_VIZ_ONEDNN=0) and oneDNN's give the same step to float32 rounding."""
    if not fast_torch.onednn_available():
        pytest.skip("this torch has no oneDNN linear kernel")
    X, Y, state = make_batch(torch.float32, batch=16, hidden=24)
    results = []
    for onednn in (True, False):
        monkeypatch.setattr(fast_torch, "use_onednn", lambda like, rows, on=onednn: on and like.dtype == torch.float32)
        monkeypatch.setattr(fast, "use_onednn", fast_torch.use_onednn)
        m = make_model(torch.float32, hidden=24)
        results.append((run_step(m, X, Y, state, 1.0, 1.0, FORCINGS["r_on_units"], loops="torch-rows"), m))
    (la, sa), a = results[0]
    (lb, sb), b = results[1]
    assert la == pytest.approx(lb, rel=1e-6)
    torch.testing.assert_close(sa, sb, rtol=1e-5, atol=1e-6)
    assert_same_params(a, b, rtol=1e-5, atol=1e-6)


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
                a, b = make_model(dtype), make_model(dtype)
                X, Y, state = make_batch(dtype, batch=batch)
                for clip in (1e-2, 1e3):
                    la, sa = run_step(a, X, Y, state, 1.0, clip, FORCINGS[name], loops="cpp")
                    lb, sb = run_step(b, X, Y, state, 1.0, clip, FORCINGS[name], loops="torch-rows")
                    assert la == pytest.approx(lb, rel=rtol)
                    torch.testing.assert_close(sa, sb, rtol=rtol, atol=atol)
                    assert_same_params(a, b, rtol, atol)
                ta = fast_trace(a, X, FORCINGS[name], state=state, start_step=1, loops="cpp")
                tb = fast_trace(a, X, FORCINGS[name], state=state, start_step=1, loops="torch-rows")
                for k in ("R", "Z", "H_tilde", "H", "logits"):
                    torch.testing.assert_close(getattr(ta, k), getattr(tb, k), rtol=rtol, atol=atol, msg=k)


# --- CUDA: the pure-PyTorch loops on the GPU ----------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


@cuda
@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
def test_cuda_step_matches_textbook_on_cpu(name):
    ref, fast = make_model(), make_model().cuda()
    X, Y, state = make_batch()
    loss_t, state_t = textbook_step(ref, X, Y, state, 1.0, 1.0, FORCINGS[name])
    loss_f, state_f = fast_step(fast, X.cuda(), Y.cuda(), state.cuda(), 1.0, 1.0, FORCINGS[name])
    assert state_f.is_cuda and loss_f == pytest.approx(loss_t, rel=1e-10)
    torch.testing.assert_close(state_f.cpu(), state_t, rtol=1e-10, atol=1e-12)
    assert_same_params(fast.cpu(), ref, rtol=1e-10, atol=1e-12)


@cuda
def test_cuda_float32_trace_and_trainer():
    m = make_model(torch.float32)
    X, _, state = make_batch(torch.float32)
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
