"""Both editions' GRU models as their chapters write them (equations and parameter names; not imported from d2l),
for tests that load files from and for a notebook. Also English written for these tests, to train on."""

from __future__ import annotations

import math
import types

import torch
from torch import nn
from torch.nn import functional as F

D2L10_ORDER = (" ", "<unk>", *"abcdefghijklmnopqrstuvwxyz")

TRAIN_TEXT = (
    "A small boat left the harbour before the sun was up, and the men on board said little as they pulled the "
    "ropes and watched the water. The wind was cold and the sea was grey, but the old captain knew the way and "
    "kept the boat close to the shore until the light came over the hills. Then they turned out toward the open "
    "water, where the birds were already diving for fish, and one of the young men began to sing a song that his "
    "mother had taught him when he was a child."
)


class Vocab10:
    """d2l 1.0's Vocab over characters: sorted(set(tokens) | {'<unk>'}), so ' ', '<unk>', 'a' … 'z'."""

    def __init__(self, tokens=()):
        self.idx_to_token = list(sorted(set(["<unk>", *tokens])))
        self.token_to_idx = {t: i for i, t in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(t) for t in tokens]

    def to_tokens(self, indices):
        return [self.idx_to_token[int(i)] for i in indices]

    @property
    def unk(self):
        return self.token_to_idx["<unk>"]


class VocabSeed:
    """The seed edition's Vocab, given its order (built on The Time Machine: `<unk>` first, then by frequency)."""

    def __init__(self, idx_to_token):
        self.idx_to_token = list(idx_to_token)
        self.token_to_idx = {t: i for i, t in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, 0)
        return [self.__getitem__(t) for t in tokens]


# --- the seed edition (zh.d2l.ai, chapter "门控循环单元（GRU）"): functions and RNNModelScratch ---------------

def init_gru_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device),)


def gru(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
        R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
        H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        Y = H @ W_hq + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H,)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size, device):
        return self.init_state(batch_size, self.num_hiddens, device)


class RNNModel(nn.Module):
    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = self.rnn.hidden_size
        self.num_directions = 1
        self.linear = nn.Linear(self.num_hiddens, self.vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state

    def begin_state(self, device, batch_size=1):
        return torch.zeros((self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens), device=device)


def predict_ch8(prefix, num_preds, net, vocab, device):
    state = net.begin_state(batch_size=1, device=device)
    outputs = [vocab[prefix[0]]]

    def get_input():
        return torch.tensor([outputs[-1]], device=device).reshape((1, 1))

    for y in prefix[1:]:
        _, state = net(get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = net(get_input(), state)
        outputs.append(int(y.argmax(dim=1).reshape(1)))
    return "".join([vocab.idx_to_token[i] for i in outputs])


# --- d2l 1.0 (d2l.ai, chapter "Gated Recurrent Units (GRU)"): GRUScratch, RNNLMScratch, GRU, RNNLM ------------

class GRUScratch(nn.Module):
    def __init__(self, num_inputs, num_hiddens, sigma=0.01):
        super().__init__()
        self.num_hiddens = num_hiddens

        def init_weight(*shape):
            return nn.Parameter(torch.randn(*shape) * sigma)

        def triple():
            return (init_weight(num_inputs, num_hiddens), init_weight(num_hiddens, num_hiddens),
                    nn.Parameter(torch.zeros(num_hiddens)))

        self.W_xz, self.W_hz, self.b_z = triple()
        self.W_xr, self.W_hr, self.b_r = triple()
        self.W_xh, self.W_hh, self.b_h = triple()

    def forward(self, inputs, H=None):
        if H is None:
            H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
        outputs = []
        for X in inputs:
            Z = torch.sigmoid(torch.matmul(X, self.W_xz) + torch.matmul(H, self.W_hz) + self.b_z)
            R = torch.sigmoid(torch.matmul(X, self.W_xr) + torch.matmul(H, self.W_hr) + self.b_r)
            H_tilde = torch.tanh(torch.matmul(X, self.W_xh) + torch.matmul(R * H, self.W_hh) + self.b_h)
            H = Z * H + (1 - Z) * H_tilde
            outputs.append(H)
        return outputs, H


class RNNLMScratch(nn.Module):
    def __init__(self, rnn, vocab_size, lr=0.01):
        super().__init__()
        self.rnn, self.vocab_size = rnn, vocab_size
        self.W_hq = nn.Parameter(torch.randn(self.rnn.num_hiddens, self.vocab_size) * 0.01)
        self.b_q = nn.Parameter(torch.zeros(self.vocab_size))

    def one_hot(self, X):
        return F.one_hot(X.T, self.vocab_size).type(torch.float32)

    def output_layer(self, rnn_outputs):
        outputs = [torch.matmul(H, self.W_hq) + self.b_q for H in rnn_outputs]
        return torch.stack(outputs, 1)

    def forward(self, X, state=None):
        rnn_outputs, _ = self.rnn(self.one_hot(X), state)
        return self.output_layer(rnn_outputs)

    def predict(self, prefix, num_preds, vocab, device=None):
        state, outputs = None, [vocab[prefix[0]]]
        for i in range(len(prefix) + num_preds - 1):
            X = torch.tensor([[outputs[-1]]], device=device)
            embs = self.one_hot(X)
            rnn_outputs, state = self.rnn(embs, state)
            if i < len(prefix) - 1:
                outputs.append(vocab[prefix[i + 1]])
            else:
                Y = self.output_layer(rnn_outputs)
                outputs.append(int(Y.argmax(axis=2).reshape(1)))
        return "".join([vocab.idx_to_token[i] for i in outputs])


class GRU(nn.Module):
    def __init__(self, num_inputs, num_hiddens):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.rnn = nn.GRU(num_inputs, num_hiddens)

    def forward(self, inputs, H=None):
        return self.rnn(inputs, H)


class RNNLM(RNNLMScratch):
    def __init__(self, rnn, vocab_size, lr=0.01):
        nn.Module.__init__(self)
        self.rnn, self.vocab_size = rnn, vocab_size
        self.linear = nn.LazyLinear(self.vocab_size)

    def output_layer(self, hiddens):
        return self.linear(hiddens).swapaxes(0, 1)


def d2l_module() -> types.SimpleNamespace:
    """What `d2l.` names in the README's lines, from the definitions above."""
    return types.SimpleNamespace(RNNModelScratch=RNNModelScratch, RNNModel=RNNModel, predict_ch8=predict_ch8,
                                 RNNLMScratch=RNNLMScratch, GRU=GRU, RNNLM=RNNLM, GRUScratch=GRUScratch)


def train_d2l10_scratch(text_ids: torch.Tensor, hidden: int = 32, steps: int = 30, seed: int = 0) -> RNNLMScratch:
    """d2l 1.0's scratch GRU trained for a few Adam steps on random 32-character windows of `text_ids`."""
    torch.manual_seed(seed)
    model = RNNLMScratch(GRUScratch(len(D2L10_ORDER), hidden), len(D2L10_ORDER))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        starts = torch.randint(0, len(text_ids) - 33, (16,))
        X = torch.stack([text_ids[s : s + 32] for s in starts])
        Y = torch.stack([text_ids[s + 1 : s + 33] for s in starts])
        loss = F.cross_entropy(model(X).reshape(-1, len(D2L10_ORDER)), Y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert math.isfinite(float(loss.detach()))
    return model
