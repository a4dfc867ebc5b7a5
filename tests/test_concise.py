"""The nn.GRU-convention model (gru_viz/nets/concise.py): equal to nn.GRU + nn.Linear, forced by hand in PyTorch's
convention, its hand-written backward equal to autograd, and a checkpoint kind of its own."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gru_viz.checkpoints.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from gru_viz.checkpoints.notebook import SEED_ORDER
from gru_viz.data import Vocab
from gru_viz.explain.analysis import gradient_flow
from gru_viz.explain.attribution import attribution
from gru_viz.explain.inference import predict, text_perplexity, trace_text
from gru_viz.nets.concise import ConciseGRU, concise_from_params, from_torch
from gru_viz.nets.model import Forcing, GateForce

V, HIDDEN = 28, 12


def torch_pair(seed: int = 0, hidden: int = HIDDEN) -> tuple[nn.GRU, nn.Linear]:
    torch.manual_seed(seed)
    gru, lin = nn.GRU(V, hidden), nn.Linear(hidden, V)
    with torch.no_grad():  # larger than nn.GRU's init, so gates sit far from 1/2
        for p in [*gru.parameters(), *lin.parameters()]:
            p.mul_(4.0)
    return gru, lin


class SeedRNNModel(nn.Module):
    """The seed edition's concise RNNModel as the chapter writes it: one-hot inputs, nn.GRU, Linear on every step."""

    def __init__(self, rnn: nn.GRU, vocab_size: int):
        super().__init__()
        self.rnn, self.vocab_size = rnn, vocab_size
        self.linear = nn.Linear(rnn.hidden_size, vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state


class D2L10RNNLM(nn.Module):
    """d2l 1.0's concise RNNLM around its GRU wrapper (keys rnn.rnn.*, linear.*)."""

    def __init__(self, hidden: int, vocab_size: int):
        super().__init__()
        self.rnn = nn.Module()
        self.rnn.rnn = nn.GRU(vocab_size, hidden)
        self.linear = nn.Linear(hidden, vocab_size)
        self.vocab_size = vocab_size

    def forward(self, X):
        out, _ = self.rnn.rnn(F.one_hot(X.T, self.vocab_size).type(torch.float32))
        return self.linear(out).swapaxes(0, 1)


@pytest.mark.parametrize("edition", ["seed", "d2l-1.0"])
def test_concise_model_traces_equal_to_nn_gru_of_either_edition(edition):
    gru, lin = torch_pair(1)
    if edition == "seed":
        net = SeedRNNModel(gru, V)
        net.linear.load_state_dict(lin.state_dict())
        sd = net.state_dict()
        model = concise_from_params({k.removeprefix("rnn."): v for k, v in sd.items()})
    else:
        net = D2L10RNNLM(HIDDEN, V)
        net.rnn.rnn.load_state_dict(gru.state_dict())
        net.linear.load_state_dict(lin.state_dict())
        model = concise_from_params({k.removeprefix("rnn.rnn."): v for k, v in net.state_dict().items()})
    vocab = Vocab(list(SEED_ORDER))
    text = "the gates of a recurrent cell open and close as it reads a sentence"
    tr = trace_text(model, vocab, text)
    ids = torch.tensor([vocab.encode(text)])
    with torch.no_grad():
        out, _ = gru(F.one_hot(ids.T, V).float())
        logits = (net(ids, None)[0] if edition == "seed" else net(ids)[0]).reshape(-1, V)
    assert torch.allclose(torch.from_numpy(tr.H), out[:, 0], atol=1e-6, rtol=0)
    assert torch.allclose(torch.from_numpy(tr.logits), logits, atol=1e-6, rtol=0)
    assert (tr.H != 0).all()  # the comparison compared something


def hand_forced_step(x, h, gru, r_force, z_force, s: float = 1.0):
    """One step of nn.GRU's equations written out with the forced gates substituted (PyTorch's convention),
    blended with strength s: (1 − s)·free + s·forced."""
    W_ir, W_iz, W_in = gru.weight_ih_l0.chunk(3)
    W_hr, W_hz, W_hn = gru.weight_hh_l0.chunk(3)
    b_ir, b_iz, b_in = gru.bias_ih_l0.chunk(3)
    b_hr, b_hz, b_hn = gru.bias_hh_l0.chunk(3)
    r = torch.sigmoid(W_ir @ x + b_ir + W_hr @ h + b_hr)
    z = torch.sigmoid(W_iz @ x + b_iz + W_hz @ h + b_hz)
    r = torch.where(r_force[1], (1 - s) * r + s * r_force[0], r)
    z = torch.where(z_force[1], (1 - s) * z + s * z_force[0], z)
    n = torch.tanh(W_in @ x + b_in + r * (W_hn @ h + b_hn))
    return (1 - z) * n + z * h


@pytest.mark.parametrize("strength", [1.0, 0.4])
def test_forcing_the_concise_model_matches_a_hand_computation_in_torch_convention(strength):
    gru, lin = torch_pair(2)
    model = from_torch(gru, lin)
    units = (1, 4, 7)
    forcing = Forcing(reset=GateForce(0.0, units=units, steps=(3, 9)), update=GateForce(0.8, steps=(5, 12)),
                      strength=strength)
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]])
    _, _, tr = model(ids, model.begin_state(1), forcing, record=True)
    h = torch.zeros(HIDDEN)
    mask = torch.zeros(HIDDEN, dtype=torch.bool)
    mask[list(units)] = True
    with torch.no_grad():
        for t, tok in enumerate(ids[0].tolist()):
            r_on = mask if 3 <= t < 9 else torch.zeros_like(mask)
            z_on = torch.ones_like(mask) if 5 <= t < 12 else torch.zeros_like(mask)
            h = hand_forced_step(F.one_hot(torch.tensor(tok), V).float(), h, gru, (torch.tensor(0.0), r_on),
                                 (torch.tensor(0.8), z_on), strength)
            assert torch.allclose(tr.H[t, 0], h, atol=1e-6, rtol=0), t
    if strength == 1.0:
        assert (tr.Z[5:12, 0] == 0.8).all() and (tr.R[3:9, 0, list(units)] == 0).all()
    else:  # blended: between the free gate and the forced value, neither of them
        assert not (tr.Z[5:12, 0] == 0.8).any() and not (tr.R[3:9, 0, list(units)] == 0).any()
    free = model(ids, model.begin_state(1), record=True)[2]
    assert not torch.allclose(free.H[-1], tr.H[-1])  # the forcing changed the state


def _autograd_model(gru, lin, X, forcing=Forcing()):
    """A differentiable pass in nn.GRU's convention over one-hot rows X (steps, vocab), with forcing."""
    hs, h = [], torch.zeros(gru.hidden_size, dtype=X.dtype)
    for t in range(X.shape[0]):
        r_on = torch.zeros(gru.hidden_size, dtype=torch.bool)
        z_on = torch.zeros_like(r_on)
        if forcing.reset.applies_at(t):
            r_on[:] = True
        if forcing.update.applies_at(t):
            z_on[:] = True
        h = hand_forced_step(X[t], h, gru, (torch.tensor(forcing.reset.value or 0.0, dtype=X.dtype), r_on),
                             (torch.tensor(forcing.update.value or 0.0, dtype=X.dtype), z_on), forcing.strength)
        hs.append(h)
    H = torch.stack(hs)
    return hs, H @ lin.weight.T + lin.bias


@pytest.mark.parametrize("forcing", [Forcing(), Forcing(reset=GateForce(0.2, steps=(2, 6))),
                                     Forcing(reset=GateForce(0.2, steps=(2, 6)), update=GateForce(0.9, steps=(4, 9)),
                                             strength=0.3)])
def test_concise_attribution_and_gradient_flow_equal_autograd(forcing):
    gru, lin = torch_pair(3)
    gru, lin = gru.double(), lin.double()
    model = from_torch(gru, lin)
    tokens = [5, 2, 7, 7, 1, 0, 3, 9, 4, 6, 2]
    A = attribution(model, tokens, forcing, dtype=torch.float64)
    X = F.one_hot(torch.tensor(tokens), V).double().requires_grad_()
    H, logits = _autograd_model(gru, lin, X, forcing)
    for t in range(len(tokens)):
        (g,) = torch.autograd.grad(F.log_softmax(logits[t], 0)[logits[t].argmax()], X, retain_graph=True)
        assert torch.allclose(torch.from_numpy(A[t, : t + 1]), g[: t + 1].norm(dim=1), atol=1e-9), t
    target = 8
    flow = gradient_flow(model, tokens, target, forcing)
    loss = F.cross_entropy(logits[target].unsqueeze(0), torch.tensor([tokens[target + 1]]))
    grads = torch.autograd.grad(loss, H[: target + 1])  # total derivatives, through every later step
    assert flow == pytest.approx([float(g.norm()) for g in grads], rel=1e-9)
    assert flow[0] > 0


def test_concise_checkpoint_round_trip_keeps_its_kind_and_numbers():
    model = from_torch(*torch_pair(4))
    vocab = Vocab(list(SEED_ORDER))
    data = checkpoint_bytes(model, vocab, {"source": "test"})
    ckpt = load_checkpoint(data)
    assert isinstance(ckpt.model, ConciseGRU) and ckpt.meta["arch"] == "torch-gru"
    for name, p in model.params().items():
        assert torch.equal(ckpt.model.params()[name], p)
    assert predict("the time", 20, ckpt.model, vocab) == predict("the time", 20, model, vocab)
    assert text_perplexity(ckpt.model, vocab.encode("the gates open")) > 1


def test_concise_checkpoint_with_a_wrong_recurrent_shape_is_refused():
    model = from_torch(*torch_pair(4))
    tensors = {k: v.detach().clone() for k, v in model.params().items()}
    tensors["weight_hh_l0"] = torch.zeros(2 * HIDDEN, HIDDEN)
    data = checkpoint_bytes(tensors, Vocab(list(SEED_ORDER)))
    with pytest.raises(CheckpointError, match=r"weight_hh_l0 must be a \(3·hidden\)×hidden matrix"):
        load_checkpoint(data)
