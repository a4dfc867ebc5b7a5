"""Which characters mattered (gru_viz/explain/attribution.py) against autograd, its 16-bit log-scale encoding, and the
cell diagram's numbers (gru_viz/views/cell_figure.py) against the trace."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from gru_viz.explain.attribution import attribution, dequantize_log, max_relative_error, quantize_log
from gru_viz.explain.inference import TextTrace
from gru_viz.fast import fast_trace
from gru_viz.nets.model import FREE, PRESETS, Forcing, GateForce, GRUScratch
from gru_viz.views.cell_figure import SHAPES, SLOTS, cell_layout
from gru_viz.views.scrub_payload import attribution_data, read_payload, scrub_payload

FORCINGS = {
    "free": FREE,
    **{k: PRESETS[k] for k in ("plain_rnn", "frozen_memory", "amnesia")},
    "some units, some steps": Forcing(reset=GateForce(0.3, units=(1, 4), steps=(2, 7)),
                                      update=GateForce(0.8, units=(0, 4, 5), steps=(5, 30))),
    "plain RNN at strength 0.5": Forcing.gates(r=1.0, z=0.0, strength=0.5),
    "some units, some steps, strength 0.3": Forcing(reset=GateForce(0.3, units=(1, 4), steps=(2, 7)),
                                                    update=GateForce(0.8, units=(0, 4, 5), steps=(5, 30)),
                                                    strength=0.3),
}


def _small_model(seed: int = 0) -> GRUScratch:
    g = torch.Generator().manual_seed(seed)
    model = GRUScratch(7, 6, generator=g)
    with torch.no_grad():  # weights large enough that gradients reach back several steps
        for p in model.parameters():
            p.normal_(0.0, 0.8, generator=g)
    return model


def _autograd(model: GRUScratch, tokens: list[int], forcing: Forcing) -> np.ndarray:
    """The oracle: per target t, autograd of log p(top-1 of step t) with respect to the one-hot inputs, through the
    model's own forward (one-hot inputs turned into a leaf by a hook on the W_x* products)."""
    m = GRUScratch(model.vocab_size, model.hidden).double()
    m.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    T = len(tokens)
    out = np.zeros((T, T))
    for t in range(T):
        X = F.one_hot(torch.tensor(tokens[: t + 1]), m.vocab_size).double().requires_grad_(True)
        H = m.begin_state(1).double()
        for s in range(t + 1):  # the textbook step, one input row at a time, so X is a leaf
            x = X[s : s + 1]
            z = forcing.update.apply(torch.sigmoid(x @ m.W_xz + H @ m.W_hz + m.b_z), s,
                                     forcing.update.unit_mask(m.hidden, H.device), forcing.strength)
            r = forcing.reset.apply(torch.sigmoid(x @ m.W_xr + H @ m.W_hr + m.b_r), s,
                                    forcing.reset.unit_mask(m.hidden, H.device), forcing.strength)
            H = z * H + (1 - z) * torch.tanh(x @ m.W_xh + (r * H) @ m.W_hh + m.b_h)
        logp = F.log_softmax(H @ m.W_hq + m.b_q, dim=1)[0]
        logp[int(logp.argmax())].backward()
        out[t, : t + 1] = X.grad.norm(dim=1).numpy()
    return out


def test_the_oracles_step_computes_the_models_forward():
    model, tokens = _small_model(), [1, 5, 2, 2, 6, 0, 3]
    m = GRUScratch(7, 6).double()
    m.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    _, H_model, _ = m(torch.tensor([tokens]), m.begin_state(1), FORCINGS["some units, some steps"])
    H = m.begin_state(1)
    f = FORCINGS["some units, some steps"]
    with torch.no_grad():
        for s, tok in enumerate(tokens):
            x = F.one_hot(torch.tensor([tok]), 7).double()
            z = f.update.apply(torch.sigmoid(x @ m.W_xz + H @ m.W_hz + m.b_z), s, f.update.unit_mask(6, H.device))
            r = f.reset.apply(torch.sigmoid(x @ m.W_xr + H @ m.W_hr + m.b_r), s, f.reset.unit_mask(6, H.device))
            H = z * H + (1 - z) * torch.tanh(x @ m.W_xh + (r * H) @ m.W_hh + m.b_h)
    torch.testing.assert_close(H, H_model.detach())


@pytest.mark.parametrize("name", list(FORCINGS))
def test_attribution_equals_autograd_on_a_small_model(name):
    model = _small_model(1)
    tokens = torch.randint(0, 7, (24,), generator=torch.Generator().manual_seed(2)).tolist()
    ours = attribution(model, tokens, FORCINGS[name], dtype=torch.float64)
    ref = _autograd(model, tokens, FORCINGS[name])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    assert (np.triu(ours, 1) == 0).all()
    if name == "frozen_memory":  # Z = 1: the state never leaves zero, so no input changes the prediction
        assert (ours == 0).all()
    else:
        assert ours[-1, 0] > 0 and ours[-1, -1] > 0


def test_attribution_in_float32_matches_float64():
    model = _small_model(3)
    tokens = torch.randint(0, 7, (40,), generator=torch.Generator().manual_seed(4)).tolist()
    a32, a64 = attribution(model, tokens), attribution(model, tokens, dtype=torch.float64)
    big = a64 > 1e-6 * a64.max()
    np.testing.assert_allclose(a32[big], a64[big], rtol=1e-3)


def test_log_encoding_keeps_the_relative_error_within_its_bound_and_zero_and_overflow_apart():
    x = 10.0 ** np.random.default_rng(0).uniform(-11.9, 5.9, 100_000)
    back = dequantize_log(quantize_log(x))
    assert np.abs(back / x - 1).max() <= max_relative_error() * 1.0001
    special = quantize_log(np.array([0.0, 1e-13, np.inf, np.nan, 1e9]))
    assert special.tolist() == [0, 0, 65535, 65535, 65535]


def test_payload_returns_the_attribution_and_the_forcing():
    model = _small_model(5)
    vocab_tokens = [f"c{i}" for i in range(7)]
    ids = [1, 2, 3, 4, 5, 6, 0, 1, 2, 3]
    forced = Forcing(update=GateForce(0.0, units=(2,)))
    with torch.no_grad():
        ft = fast_trace(model, torch.tensor([ids]), forced)
    tr = TextTrace(text="abcdefghij", tokens=np.array(ids), forcing=forced, H_prev=ft.H_prev[:, 0].numpy(),
                   **{k: getattr(ft, k)[:, 0].numpy() for k in ("R", "Z", "H_tilde", "H", "logits")})
    shown, free = attribution(model, ids, forced), attribution(model, ids, FREE)
    p = scrub_payload(tr, vocab_tokens, None, attribution_data(shown, free))
    assert p["forcing"] == {"R": None, "Z": {"value": 0.0, "units": [2], "steps": None}, "strength": 1.0}
    back = read_payload(p)
    for key, A in (("shown", shown), ("free", free)):
        got = back[f"attribution_{key}"]
        ok = A > 1e-12
        assert np.abs(got[ok] / A[ok] - 1).max() <= max_relative_error() * 1.0001
        assert (got[~ok] == 0).all()
    assert not np.allclose(back["attribution_shown"], back["attribution_free"])


def test_cell_layout_has_every_slot_and_no_text_of_its_own_in_the_value_slots():
    labels = {k: k for k in ("cell_reset", "cell_update", "cell_cand", "cell_output")}
    cell = cell_layout(labels, 16, 320)
    assert set(cell["slots"]) == set(SLOTS) and set(cell["shapes"]) == set(SHAPES)
    notes, shapes = cell["layout"]["annotations"], cell["layout"]["shapes"]
    for key in ("x", "hp", "r", "z", "ht", "omz", "h", "title"):
        assert notes[cell["slots"][key]]["text"] == ""
    for key in SHAPES:
        assert shapes[cell["shapes"][key]]["type"] == "rect"
    assert notes[cell["slots"]["r_box"]]["text"] == "cell_reset"
