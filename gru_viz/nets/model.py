"""d2l's from-scratch GRU, step by step as in the chapter, with explicit gate forcing and recording."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

# d2l's names, in the order the chapter introduces them.
PARAM_NAMES: tuple[str, ...] = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h", "W_hq", "b_q")


def param_shapes(vocab_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """d2l's shapes: inputs are one-hot rows, so W_x* is vocab×hidden and W_hq is hidden×vocab."""
    v, h = vocab_size, hidden
    shapes: dict[str, tuple[int, ...]] = {}
    for gate in "zrh":
        shapes[f"W_x{gate}"], shapes[f"W_h{gate}"], shapes[f"b_{gate}"] = (v, h), (h, h), (h,)
    shapes["W_hq"], shapes["b_q"] = (h, v), (v,)
    return {name: shapes[name] for name in PARAM_NAMES}


# d2l feeds one-hot rows X_t (batch × vocab). Since X_t is one-hot, X_t W is just the row of W at X_t's token:
# above this vocabulary size the rows are read directly instead of building (steps × batch × vocab) one-hot
# tensors and multiplying by zeros (same numbers: a one-hot product adds exact zeros to that row).
ONE_HOT_MAX_VOCAB = 64


def input_terms(inputs: torch.Tensor, weights: tuple[torch.Tensor, ...],
                one_hot: bool) -> list[Callable[[int], torch.Tensor]]:
    """For each W of `weights` (vocab × hidden), a function of the step t giving X_t W (batch × hidden).

    inputs (batch, steps) token ids. one_hot: d2l's X_t @ W with X = one_hot(inputs), computed at step t as the
    book does; else the rows W[inputs], read once for all steps (per-step reads would make autograd zero-fill a
    vocab × hidden gradient at every step).
    """
    if one_hot:
        X = F.one_hot(inputs.T, weights[0].shape[0]).to(weights[0].dtype)  # (steps, batch, vocab), as d2l
        return [lambda t, W=W: X[t] @ W for W in weights]
    return [F.embedding(inputs.T, W).unbind(0).__getitem__ for W in weights]


class ForcingError(ValueError):
    """A forcing setting that cannot be applied; the message is meant for a person."""


@dataclass(frozen=True)
class GateForce:
    """Override one gate by a constant, for all or some hidden units and all or some time steps.

    `value=None` leaves the gate free. `steps` is a half-open range [start, stop) of time-step indices.
    """

    value: float | None = None
    units: tuple[int, ...] | None = None
    steps: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.value is not None and not (math.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ForcingError(f"a forced gate value must lie in [0, 1], got {self.value}")
        if self.steps is not None and not (0 <= self.steps[0] <= self.steps[1]):
            raise ForcingError(f"a step range must be 0 <= start <= stop, got {self.steps}")
        if self.units is not None and any(u < 0 for u in self.units):
            raise ForcingError("hidden unit indices must be >= 0")

    @property
    def active(self) -> bool:
        return self.value is not None

    def check(self, hidden: int) -> None:
        if self.units is not None and any(u >= hidden for u in self.units):
            raise ForcingError(f"unit indices must be below the hidden size {hidden}")

    def applies_at(self, t: int) -> bool:
        return self.value is not None and (self.steps is None or self.steps[0] <= t < self.steps[1])

    def unit_mask(self, hidden: int, device: torch.device) -> torch.Tensor | None:
        """(hidden,) bool mask of forced units, or None when every unit is forced."""
        if self.units is None:
            return None
        mask = torch.zeros(hidden, dtype=torch.bool, device=device)
        mask[list(self.units)] = True
        return mask

    def apply(self, gate: torch.Tensor, t: int, mask: torch.Tensor | None, strength: float = 1.0) -> torch.Tensor:
        """The gate with forced entries replaced by (1 − s)·free + s·forced (s = `strength`). At s = 1 a forced
        entry is the constant itself and passes no gradient to the parameters; below 1 it passes (1 − s) of it."""
        if not self.applies_at(t):
            return gate
        forced = torch.full_like(gate, self.value)
        if strength != 1.0:  # s = 1 stays the exact constant, not gate·0 + value (which would carry a gradient)
            forced = (1.0 - strength) * gate + strength * forced
        return forced if mask is None else torch.where(mask, forced, gate)

    def free_share(self, t: int, hidden: int, strength: float = 1.0,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """(hidden,): the share of the free gate's gradient that passes at step t, for the hand-written backwards:
        1 where the gate is computed, 1 − s where forcing blends it with strength s (0 where it holds it)."""
        share = torch.ones(hidden, dtype=dtype)
        if self.applies_at(t):
            share[slice(None) if self.units is None else list(self.units)] = 1.0 - strength
        return share


@dataclass(frozen=True)
class Forcing:
    """Forcing of the reset gate R and the update gate Z; the default forces nothing.

    `strength` s blends each forced gate between its free value and the forced one: (1 − s)·free + s·forced, so
    s = 1 (the default) holds the gate at its value and s = 0 leaves the model free.
    """

    reset: GateForce = field(default_factory=GateForce)
    update: GateForce = field(default_factory=GateForce)
    strength: float = 1.0

    def __post_init__(self) -> None:
        s = self.strength
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not (math.isfinite(s) and 0.0 <= s <= 1.0):
            raise ForcingError(f"a forcing strength must lie in [0, 1], got {s!r}")
        object.__setattr__(self, "strength", float(s))

    @property
    def active(self) -> bool:
        return self.reset.active or self.update.active

    @property
    def full(self) -> bool:
        """Every forced gate is held at its value (strength 1): the forcing the fast loops compute."""
        return self.strength == 1.0

    def check(self, hidden: int) -> None:
        """ForcingError when a forced unit does not exist in a model of `hidden` units."""
        self.reset.check(hidden)
        self.update.check(hidden)

    @classmethod
    def gates(cls, r: float | None = None, z: float | None = None, strength: float = 1.0) -> Forcing:
        return cls(reset=GateForce(r), update=GateForce(z), strength=strength)


FREE = Forcing()
PRESETS: dict[str, Forcing] = {
    "free": FREE,
    "plain_rnn": Forcing.gates(r=1.0, z=0.0),  # H = H̃ = tanh(X W_xh + H W_hh + b_h)
    "frozen_memory": Forcing.gates(z=1.0),  # H_t = H_{t-1}: the state never changes
    "amnesia": Forcing.gates(r=0.0),  # H̃ ignores the past: only the update gate carries memory
}


@dataclass
class Trace:
    """Everything a forward pass computed, per time step: tensors are (steps, batch, ·), detached."""

    R: torch.Tensor
    Z: torch.Tensor
    H_tilde: torch.Tensor
    H: torch.Tensor
    logits: torch.Tensor
    H0: torch.Tensor  # (batch, hidden): the state before step 0, so H_{t-1} is known at every t

    @property
    def H_prev(self) -> torch.Tensor:
        return torch.cat([self.H0.unsqueeze(0), self.H[:-1]], dim=0)


Forward = tuple[torch.Tensor, torch.Tensor, Trace | None]  # (logits, final state, trace when recording)


class Recording:
    """The gates and states a forward pass keeps at each step when asked to record, stacked into a Trace."""

    def __init__(self, on: bool):
        self.on = on
        self.steps: dict[str, list[torch.Tensor]] = {"R": [], "Z": [], "H_tilde": [], "H": []}

    def add(self, R: torch.Tensor, Z: torch.Tensor, H_tilde: torch.Tensor, H: torch.Tensor) -> None:
        if self.on:
            for key, value in zip(self.steps, (R, Z, H_tilde, H)):
                self.steps[key].append(value.detach())

    def trace(self, logits: torch.Tensor, state: torch.Tensor) -> Trace | None:
        """The Trace of the steps added (None when not recording); `state` is the one the pass started from."""
        if not self.on:
            return None
        steps = len(self.steps["H"])
        return Trace(logits=logits.detach().reshape(steps, state.shape[0], -1), H0=state.detach(),
                     **{k: torch.stack(v) for k, v in self.steps.items()})


class CharModel(nn.Module):
    """What every character model here shares (the scratch GRU, the plain RNN, the concise nn.GRU): its sizes, a
    zero begin state, and d2l's one-hot inputs up to `one_hot_max_vocab` (above it, rows are looked up).

    forward's contract: inputs (batch, steps) token ids, state (batch, hidden); logits (steps·batch, vocab) in
    d2l's time-major order, the final state and, when `record`, a Trace.
    """

    one_hot_max_vocab = ONE_HOT_MAX_VOCAB

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        if vocab_size < 2 or hidden < 1:
            raise ValueError(f"vocab_size must be >= 2 and hidden >= 1, got {vocab_size}, {hidden}")
        self.vocab_size, self.hidden = vocab_size, hidden

    def begin_state(self, batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
        return torch.zeros((batch_size, self.hidden), device=device or self.W_hq.device, dtype=self.W_hq.dtype)

    def input_terms(self, inputs: torch.Tensor, weights: tuple[torch.Tensor, ...]) -> list[Callable]:
        """module-level input_terms, one-hot as d2l up to this model's one_hot_max_vocab."""
        return input_terms(inputs, weights, self.vocab_size <= self.one_hot_max_vocab)


class ScratchModule(CharModel):
    """What d2l's from-scratch models share: parameters under d2l's names with d2l's initialisation (weights
    N(0, 0.01²), biases 0). A subclass names its parameters and their shapes.
    """

    param_names: tuple[str, ...] = ()

    @staticmethod
    def shapes(vocab_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def __init__(self, vocab_size: int, hidden: int, generator: torch.Generator | None = None):
        super().__init__(vocab_size, hidden)
        for name, shape in self.shapes(vocab_size, hidden).items():
            init = torch.zeros(shape) if name.startswith("b_") else torch.randn(shape, generator=generator) * 0.01
            self.register_parameter(name, nn.Parameter(init))

    def params(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in self.param_names}


class GRUScratch(ScratchModule):
    """The chapter's `gru` function and parameters as a module; `forward` follows the equations step by step."""

    param_names = PARAM_NAMES
    shapes = staticmethod(param_shapes)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor, forcing: Forcing = FREE, record: bool = False,
                start_step: int = 0) -> Forward:
        """CharModel's contract. `start_step` is the time index of inputs[:, 0], so a forcing's step ranges stay
        absolute."""
        forcing.check(self.hidden)
        XW_z, XW_r, XW_h = self.input_terms(inputs, (self.W_xz, self.W_xr, self.W_xh))  # t -> X_t W_x*
        H = state
        r_mask = forcing.reset.unit_mask(self.hidden, H.device)
        z_mask = forcing.update.unit_mask(self.hidden, H.device)
        outputs, rec = [], Recording(record)
        for i in range(inputs.shape[1]):
            t = start_step + i
            H_prev = H
            update = torch.sigmoid(XW_z(i) + H_prev @ self.W_hz + self.b_z)  # Z_t (batch, hidden)
            update = forcing.update.apply(update, t, z_mask, forcing.strength)
            reset = torch.sigmoid(XW_r(i) + H_prev @ self.W_hr + self.b_r)  # R_t (batch, hidden)
            reset = forcing.reset.apply(reset, t, r_mask, forcing.strength)
            candidate = torch.tanh(XW_h(i) + (reset * H_prev) @ self.W_hh + self.b_h)  # H̃_t
            H = update * H_prev + (1 - update) * candidate  # H_t
            Y = H @ self.W_hq + self.b_q  # (batch, vocab)
            outputs.append(Y)
            rec.add(reset, update, candidate, H)
        logits = torch.cat(outputs, dim=0)
        return logits, H, rec.trace(logits, state)


def load_params(model: GRUScratch, tensors: dict[str, torch.Tensor]) -> None:
    """Copy tensors named as in PARAM_NAMES into the model (shapes must match)."""
    with torch.no_grad():
        for name in PARAM_NAMES:
            getattr(model, name).copy_(tensors[name])


def clone_params(model: GRUScratch) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.params().items()}


def from_params(tensors: dict[str, torch.Tensor]) -> GRUScratch:
    vocab_size, hidden = tensors["W_xz"].shape
    model = GRUScratch(vocab_size, hidden)
    load_params(model, tensors)
    return model
