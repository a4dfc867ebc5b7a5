"""The fast path: hand-written BPTT equals textbook_step and autograd (forcing, clipping, carried state), the
compiled loops equal the pure-PyTorch ones, builds never break anything, and the benchmark runs."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch
from helpers import autograd_sgd_update

from gru_viz import fast_ext
from gru_viz.data import make_corpus
from gru_viz.fast import fast_backend, fast_step, fast_trace, run_step, start_background_build
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


def _assert_same_params(a, b, rtol, atol):
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(a, n).detach(), getattr(b, n).detach(), rtol=rtol, atol=atol, msg=n)


@pytest.mark.parametrize("clip", [1e-2, 1e3], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("name", list(FORCINGS))
def test_matches_textbook_and_autograd_float64(name, clip):
    forcing = FORCINGS[name]
    ref, fast = _model(), _model()
    X, Y, state = _batch()
    expected, norm, exp_loss = autograd_sgd_update(ref, X, Y, state, 0.7, clip, forcing)
    assert (norm > clip) == (clip < 1)
    loss_t, state_t = textbook_step(ref, X, Y, state, 0.7, clip, forcing)
    loss_f, state_f = run_step(fast, X, Y, state, 0.7, clip, forcing, backend="torch")
    assert loss_f == pytest.approx(exp_loss, rel=1e-12) and loss_f == pytest.approx(loss_t, rel=1e-12)
    torch.testing.assert_close(state_f, state_t, rtol=1e-12, atol=1e-13)
    assert not state_f.requires_grad and state_f.dtype == torch.float64
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(fast, n).detach(), expected[n], rtol=1e-11, atol=1e-13, msg=n)
    _assert_same_params(fast, ref, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
def test_matches_textbook_float32(name):
    forcing = FORCINGS[name]
    ref, fast = _model(torch.float32), _model(torch.float32)
    X, Y, state = _batch(torch.float32)
    for clip in (1e-2, 1e3):
        loss_t, state_t = textbook_step(ref, X, Y, state, 1.0, clip, forcing)
        loss_f, state_f = fast_step(fast, X, Y, state, 1.0, clip, forcing)
        assert loss_f == pytest.approx(loss_t, rel=1e-5)
        torch.testing.assert_close(state_f, state_t, rtol=1e-5, atol=1e-6)
        _assert_same_params(fast, ref, rtol=1e-5, atol=1e-6)


def test_forced_gate_passes_no_gradient_to_its_weights():
    fast = _model()
    before = {n: getattr(fast, n).detach().clone() for n in PARAM_NAMES}
    X, Y, state = _batch()
    run_step(fast, X, Y, state, 1.0, 1e3, PRESETS["plain_rnn"], backend="torch")
    for n in ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r"):
        assert torch.equal(getattr(fast, n).detach(), before[n]), n
    for n in ("W_xh", "W_hh", "b_h", "W_hq", "b_q"):
        assert not torch.equal(getattr(fast, n).detach(), before[n]), n


def test_state_carried_across_minibatches():
    ref, fast = _model(), _model()
    gen = torch.Generator().manual_seed(5)
    s_ref = s_fast = torch.zeros(B, H, dtype=torch.float64)
    forcing = FORCINGS["both_units_and_steps"]
    for _ in range(4):
        X, Y = torch.randint(0, V, (B, T), generator=gen), torch.randint(0, V, (B, T), generator=gen)
        l_ref, s_ref = textbook_step(ref, X, Y, s_ref, 0.5, 1.0, forcing)
        l_fast, s_fast = run_step(fast, X, Y, s_fast, 0.5, 1.0, forcing, backend="torch")
        assert l_fast == pytest.approx(l_ref, rel=1e-11)
    torch.testing.assert_close(s_fast, s_ref, rtol=1e-11, atol=1e-12)
    _assert_same_params(fast, ref, rtol=1e-10, atol=1e-12)


def test_one_step_one_row_and_bad_units():
    ref, fast = _model(), _model()
    X, Y, state = _batch(batch=1, steps=1)
    assert run_step(fast, X, Y, state, 1.0, 1.0, Forcing(), backend="torch")[0] == pytest.approx(
        textbook_step(ref, X, Y, state, 1.0, 1.0, Forcing())[0], rel=1e-12)
    _assert_same_params(fast, ref, rtol=1e-11, atol=1e-13)
    with pytest.raises(ForcingError, match="hidden size"):
        fast_step(fast, X, Y, state, 1.0, 1.0, Forcing(reset=GateForce(0.5, units=(H,))))


@pytest.mark.parametrize("name", ["free", "plain_rnn", "both_units_and_steps"])
@pytest.mark.parametrize("start_step", [0, 2])
def test_fast_trace_equals_recorded_forward(name, start_step):
    m = _model()
    X, _, state = _batch()
    with torch.no_grad():
        logits, _, ref = m(X, state, FORCINGS[name], record=True, start_step=start_step)
    tr = fast_trace(m, X, FORCINGS[name], state=state, start_step=start_step, backend="torch")
    for k in ("R", "Z", "H_tilde", "H", "logits", "H0", "H_prev"):
        torch.testing.assert_close(getattr(tr, k), getattr(ref, k), rtol=1e-12, atol=1e-13, msg=k)
    assert tr.logits.shape == (T, B, V)
    zero = fast_trace(m, X[:1], FORCINGS[name])  # default: a zero state, as trace_text uses
    assert torch.count_nonzero(zero.H0) == 0 and zero.H.shape == (T, 1, H)


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_position_order_is_block_by_block_then_step_then_row(blocks):
    from gru_viz.fast import _positions

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


# --- the optional C++ build: absent, failing, and never in the way -----------------------------------------


@pytest.fixture
def unbuilt(monkeypatch, tmp_path):
    """An empty cache and no extension loaded in this process."""
    monkeypatch.setenv("GRU_VIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fast_ext, "_module", None)
    monkeypatch.setattr(fast_ext, "_failed", None)


def test_without_a_build_the_torch_path_runs(unbuilt):
    assert fast_ext.load_extension() is None and fast_backend() == "torch"
    m = _model()
    X, Y, state = _batch()
    loss, _ = fast_step(m, X, Y, state, 1.0, 1.0, Forcing())
    assert math.isfinite(loss)
    with pytest.raises(RuntimeError, match="not built"):
        run_step(m, X, Y, state, 1.0, 1.0, Forcing(), backend="cpp")


def test_no_compiler_is_a_clear_error_and_never_raises_in_background(unbuilt, monkeypatch):
    monkeypatch.setattr(fast_ext.shutil, "which", lambda *_: None)
    assert "compiler" in fast_ext.compiler_problem()
    with pytest.raises(fast_ext.ExtensionBuildError, match="pure-PyTorch"):
        fast_ext.build_extension()
    assert start_background_build() is None  # the failure is remembered: no retry, no exception


def test_background_build_swallows_failures(unbuilt, monkeypatch):
    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)

    def broken(verbose=False):
        raise fast_ext.ExtensionBuildError("simulated")

    monkeypatch.setattr(fast_ext, "build_extension", broken)
    thread = start_background_build()
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    assert not thread.is_alive() and fast_backend() == "torch"


def test_failed_build_reports_the_compiler_error_and_leaves_no_folder(unbuilt, monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    def failing_load(**kwargs):
        raise RuntimeError("Error building extension 'x': [1/2] c++ ...\ngru_fast.cpp:1:1: error: boom\nninja: stopped")

    monkeypatch.setattr(fast_ext, "compiler_problem", lambda: None)
    monkeypatch.setattr(cpp_extension, "load", failing_load)
    with pytest.raises(fast_ext.ExtensionBuildError, match="error: boom"):
        fast_ext.build_extension()
    assert fast_ext.build_failure() and not list(fast_ext.ext_dir().glob("build-*"))
    assert fast_backend() == "torch"


@pytest.mark.slow
def test_compiled_loops_equal_the_torch_path():
    """Builds the extension into the test cache (about a minute) when a compiler exists, then compares."""
    problem = fast_ext.compiler_problem()
    if problem:
        pytest.skip(problem)
    fast_ext.build_extension()
    assert fast_backend() == "cpp"
    for dtype, rtol, atol in ((torch.float64, 1e-11, 1e-13), (torch.float32, 1e-5, 1e-6)):
        for batch in (1, 3, 20, 21):  # one block, and several (equal or not) when there are threads for them
            for name in ("free", "plain_rnn", "both_units_and_steps", "r_on_units"):
                a, b = _model(dtype), _model(dtype)
                X, Y, state = _batch(dtype, batch=batch)
                for clip in (1e-2, 1e3):
                    la, sa = run_step(a, X, Y, state, 1.0, clip, FORCINGS[name], backend="cpp")
                    lb, sb = run_step(b, X, Y, state, 1.0, clip, FORCINGS[name], backend="torch")
                    assert la == pytest.approx(lb, rel=rtol)
                    torch.testing.assert_close(sa, sb, rtol=rtol, atol=atol)
                    _assert_same_params(a, b, rtol, atol)
                ta = fast_trace(a, X, FORCINGS[name], state=state, start_step=1, backend="cpp")
                tb = fast_trace(a, X, FORCINGS[name], state=state, start_step=1, backend="torch")
                for k in ("R", "Z", "H_tilde", "H", "logits"):
                    torch.testing.assert_close(getattr(ta, k), getattr(tb, k), rtol=rtol, atol=atol, msg=k)
    # the compiled path is the default for CPU tensors once built, and still equals the textbook
    ref, fast = _model(torch.float32), _model(torch.float32)
    X, Y, state = _batch(torch.float32, batch=32)
    textbook_step(ref, X, Y, state, 1.0, 1.0, Forcing())
    fast_step(fast, X, Y, state, 1.0, 1.0, Forcing())
    _assert_same_params(fast, ref, rtol=1e-5, atol=1e-6)


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


def test_bench_runs_and_passes_its_check(tmp_path, capsys):
    from gru_viz.bench import run_bench

    path = tmp_path / "small.txt"
    path.write_text("the time traveller for so it will be convenient to speak of him was expounding " * 30)
    args = argparse.Namespace(epochs=1, reps=2, hidden=16, corpus=str(path), device="cpu", json=True)
    assert run_bench(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["check"]["pass"] and result["backend"] in ("cpp", "torch")
    assert set(result["tokens_per_sec"]) == {"textbook", "fast", "nn.GRU"}
    assert result["trace"]["probe_chars"] == 1000 and "PASS" in out
    assert result["trace"]["fast_trace_forced_max_abs_diff"] < 1e-5


def test_fast_step_has_textbook_signature():
    import inspect

    assert list(inspect.signature(fast_step).parameters) == list(inspect.signature(textbook_step).parameters)
    assert fast_backend() in ("cpp", "torch")
