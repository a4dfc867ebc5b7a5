"""Why-gates computations against independent ones: autograd, direct products, hand-made text, nn.GRU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_model
from torch.nn import functional as F

from gru_viz.explain.analysis import (
    TorchConventionGRU,
    char_features,
    gradient_flow,
    gradient_flow_any,
    gradient_flow_rnn,
    memory_survival,
    rank_units,
    summarize_flow,
    survival_at,
)
from gru_viz.nets.model import PRESETS, Forcing, ForcingError, GateForce, GRUScratch
from gru_viz.nets.rnn import RNNScratch, rnn_from_gru

V, H = 6, 5


def _model(seed=0):
    return random_model(GRUScratch, V, H, seed)


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
                                     Forcing(update=GateForce(0.0, units=(1, 3), steps=(2, 6))),
                                     Forcing.gates(r=1.0, z=0.0, strength=0.5),
                                     Forcing(update=GateForce(0.9, units=(1, 3), steps=(2, 6)),
                                             reset=GateForce(0.1, units=(0, 4)), strength=0.3)])
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


def _rnn(seed=0, scale=0.6):
    return random_model(RNNScratch, V, H, seed, scale)


@pytest.mark.parametrize("scale", [0.3, 1.5])  # a shrinking and a growing gradient
def test_gradient_flow_rnn_matches_autograd(scale):
    tokens = [1, 2, 3, 4, 5, 1, 2, 0, 3, 4]
    got = gradient_flow_rnn(_rnn(scale=scale), tokens, 8)
    want = _autograd_norms(_rnn(scale=scale), tokens, 8, PRESETS["free"])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)


def test_gradient_flow_any_dispatches_on_the_architecture():
    tokens = [1, 2, 3, 4, 5, 1, 2, 0, 3, 4]
    gru = _model()
    np.testing.assert_array_equal(gradient_flow_any(gru, tokens, 7), gradient_flow(gru, tokens, 7))
    np.testing.assert_array_equal(gradient_flow_any(gru, tokens, 7, PRESETS["amnesia"]),
                                  gradient_flow(gru, tokens, 7, PRESETS["amnesia"]))
    rnn = _rnn()
    np.testing.assert_array_equal(gradient_flow_any(rnn, tokens, 7), gradient_flow_rnn(rnn, tokens, 7))
    # the plain RNN inside a GRU has the flow of the GRU forced to R=1, Z=0: two independent backward passes
    np.testing.assert_allclose(gradient_flow_any(rnn_from_gru(gru), tokens, 7),
                               gradient_flow(gru, tokens, 7, PRESETS["plain_rnn"]), rtol=1e-9)
    with pytest.raises(ForcingError, match="plain RNN"):
        gradient_flow_any(rnn, tokens, 7, PRESETS["plain_rnn"])
    with pytest.raises(ValueError, match="target step"):
        gradient_flow_any(rnn, tokens, 9)


def test_summaries_of_flow_and_survival_read_the_right_entries():
    s = summarize_flow(np.array([1e-3, 1e-1, 5.0, 2.0]))
    assert (s.at_start, s.at_target, s.low, s.high) == (1e-3, 2.0, 1e-3, 5.0)
    assert s.ratio == pytest.approx(5e-4)
    Z = np.full((12, 10), 0.5)
    Z[:, 0] = 1.0  # one unit keeps everything
    stats = survival_at(memory_survival(Z, 11), (1, 3, 30))
    assert set(stats) == {1, 3}  # distance 30 is beyond the target step
    assert stats[3]["median"] == pytest.approx(0.125) and 0.125 < stats[3]["p90"] < 1.0  # 1 unit in 10 keeps all
    assert stats[3]["mean"] == pytest.approx((9 * 0.125 + 1.0) / 10)
    assert stats[1]["p10"] == pytest.approx(0.5)
    assert stats[3]["max"] == 1.0 and stats[3]["above_1pct"] == pytest.approx(1.0)
    assert survival_at(memory_survival(Z, 11), (10,))[10]["above_1pct"] == pytest.approx(0.1)  # 0.5¹⁰ < 1 %


def _bundled(arch: str, epoch: int):
    from pathlib import Path

    from gru_viz.checkpoints.checkpoint import load_checkpoint

    folder = "pretrained" if arch == "gru" else "pretrained_rnn"
    return load_checkpoint(Path(__file__).resolve().parents[1] / "assets" / folder / f"epoch_{epoch:04d}.safetensors")


def test_the_lessons_numbers_hold_on_the_bundled_models(timemachine_raw):
    """Each claim of docs/LESSONS.md's captions, on the app's default probe and target step (t = 60)."""
    from gru_viz.data import preprocess
    from gru_viz.explain.inference import trace_text

    text = preprocess(timemachine_raw.replace("\n", " "))
    start = text.find("the time traveller for so")
    probe = text[start : start + 200].rsplit(" ", 1)[0][:120]
    vocab = _bundled("gru", 1).vocab
    tokens, target = vocab.encode(probe), 60
    assert target == min(len(tokens) - 2, 60) and _bundled("rnn", 0).vocab == vocab

    def ratio(arch, epoch, forcing=PRESETS["free"]):
        return summarize_flow(gradient_flow_any(_bundled(arch, epoch).model, tokens, target, forcing)).ratio

    gru = {e: ratio("gru", e) for e in (1, 20, 50, 100, 500)}
    forced = {e: ratio("gru", e, PRESETS["plain_rnn"]) for e in (1, 50, 100, 500)}
    rnn = {e: ratio("rnn", e) for e in (0, 20, 100, 500)}
    # at initialisation everything vanishes over 60 steps, the GRU far less than a plain RNN
    assert gru[1] < 1e-12 and forced[1] < 1e-40 and rnn[0] < 1e-30 and gru[1] > 1e15 * rnn[0]
    assert gru[20] > 1e4 * rnn[20]  # early in training the gated gradient is far larger
    assert rnn[100] > 1e6 * gru[100]  # by epoch 100 the trained plain RNN's is far larger
    assert gru[50] < 1e-12 < forced[50] and gru[100] < 1e-12 < forced[100]  # below its own weights forced
    # trained: the GRU's falls about 100x, the trained RNN's about 10x; the GRU's weights without gates explode
    assert 1e-3 < gru[500] < 0.05 < rnn[500] < 1 and forced[500] > 100
    flow = gradient_flow_any(_bundled("rnn", 500).model, tokens, target)
    assert flow.max() < 2 * flow[-1]  # the trained RNN's gradient does not explode on the way back
    # memory: ∏Z halves each step at initialisation; trained, almost nothing survives 30 steps
    surv = {e: survival_at(memory_survival(trace_text(_bundled("gru", e).model, vocab, probe).Z.astype(float),
                                           target)) for e in (1, 500)}
    assert 5e-4 < surv[1][10]["p10"] and surv[1][10]["p90"] < 2e-3  # 0.5¹⁰ ≈ 0.001 for every unit
    assert surv[500][10]["median"] < 1e-6 and 0.03 < surv[500][10]["max"] < 0.1 and surv[500][30]["max"] < 3e-4


def test_the_lessons_ranges_over_passages_of_the_book_hold(timemachine_raw):
    """The captions' "on most passages" ranges at epoch 500: 40 random 120-character passages, t = 60, as
    tools/lesson_numbers.py draws them; 10-90 % of passages."""
    import random

    from gru_viz.data import preprocess

    text = preprocess(timemachine_raw.replace("\n", " "))
    rng = random.Random(0)
    passages = [text[s : s + 120] for s in (rng.randrange(0, len(text) - 120) for _ in range(40))]
    gru, rnn = _bundled("gru", 500), _bundled("rnn", 500)
    ratios = {"gru": [], "forced": [], "rnn": []}
    for p in passages:
        tokens = gru.vocab.encode(p)
        ratios["gru"].append(summarize_flow(gradient_flow_any(gru.model, tokens, 60)).ratio)
        ratios["forced"].append(summarize_flow(gradient_flow_any(gru.model, tokens, 60, PRESETS["plain_rnn"])).ratio)
        ratios["rnn"].append(summarize_flow(gradient_flow_any(rnn.model, tokens, 60)).ratio)
    lo, hi = np.percentile(ratios["gru"], [10, 90])
    assert 1 / 40 < lo and hi < 1 / 3  # the GRU's shrinks about 3 to 30 times
    lo, hi = np.percentile(ratios["rnn"], [10, 90])
    assert 1 / 7 < lo and hi < 1  # the trained plain RNN's about 1 to 6 times
    assert 100 < np.median(ratios["forced"]) < 1000 and np.percentile(ratios["forced"], 10) > 10  # hundreds
