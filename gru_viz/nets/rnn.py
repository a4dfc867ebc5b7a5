"""d2l's from-scratch RNN (the previous chapter's rnn_scratch) with GRUScratch's interface, so the same
trainer, checkpoints and analysis can compare a trained plain RNN with the GRU.
"""

from __future__ import annotations

import torch
from torch import nn

from gru_viz.nets.model import FREE, Forcing, ForcingError, Forward, GRUScratch, Recording, ScratchModule

# d2l's names for rnn_scratch's parameters, in the chapter's order.
RNN_PARAM_NAMES: tuple[str, ...] = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")
ARCHS = ("gru", "rnn")


def rnn_param_shapes(vocab_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """d2l's shapes: one-hot inputs, so W_xh is vocab×hidden and W_hq hidden×vocab."""
    v, h = vocab_size, hidden
    return {"W_xh": (v, h), "W_hh": (h, h), "b_h": (h,), "W_hq": (h, v), "b_q": (v,)}


class RNNScratch(ScratchModule):
    """The chapter's `rnn` function and `get_params` as a module: H_t = tanh(X_t W_xh + H_{t−1} W_hh + b_h),
    Y_t = H_t W_hq + b_q.

    It has no gates, so it cannot be forced. Its recorded Trace reports R = 1 and Z = 0: with those values the
    GRU's equations reduce exactly to this cell (H_t = H̃_t), which is what the trace's H̃ and H then hold.
    """

    arch = "rnn"
    param_names = RNN_PARAM_NAMES
    shapes = staticmethod(rnn_param_shapes)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor, forcing: Forcing = FREE, record: bool = False,
                start_step: int = 0) -> Forward:
        """CharModel's contract, as GRUScratch.forward; a forcing is refused (there is no gate to force)."""
        if forcing.active:
            raise ForcingError("a plain RNN has no reset or update gate to force")
        (XW_h,) = self.input_terms(inputs, (self.W_xh,))  # t -> X_t W_xh
        H, outputs, rec = state, [], Recording(record)
        for t in range(inputs.shape[1]):
            H = torch.tanh(XW_h(t) + H @ self.W_hh + self.b_h)
            outputs.append(H @ self.W_hq + self.b_q)
            if record:  # the GRU's equations with R = 1 and Z = 0 are this cell: H̃_t = H_t
                rec.add(torch.ones_like(H), torch.zeros_like(H), H, H)
        logits = torch.cat(outputs, dim=0)
        return logits, H, rec.trace(logits, state)


def rnn_from_params(tensors: dict[str, torch.Tensor]) -> RNNScratch:
    vocab_size, hidden = tensors["W_xh"].shape
    model = RNNScratch(vocab_size, hidden)
    with torch.no_grad():
        for name, p in model.params().items():
            p.copy_(tensors[name])
    return model


def rnn_from_gru(gru: GRUScratch) -> RNNScratch:
    """The plain RNN inside a GRU: its candidate's and output's weights; equals the GRU forced to R=1, Z=0."""
    return rnn_from_params({name: getattr(gru, name).detach() for name in RNN_PARAM_NAMES})


def arch_of(model: nn.Module) -> str:
    return getattr(model, "arch", "gru")


def new_model(arch: str, vocab_size: int, hidden: int, seed: int) -> GRUScratch | RNNScratch:
    """A freshly initialised model as train.Trainer would make it (the same generator and seed)."""
    if arch not in ARCHS:
        raise ValueError(f"architecture must be one of {', '.join(ARCHS)}, got {arch!r}")
    cls = RNNScratch if arch == "rnn" else GRUScratch
    return cls(vocab_size, hidden, generator=torch.Generator().manual_seed(seed))
