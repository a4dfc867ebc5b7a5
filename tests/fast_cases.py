"""The fast-path tests' cases: small models with large weights (every gradient far from zero), random batches, the
forcings every set of loops must honour, and the parameter comparison."""

from __future__ import annotations

import torch

from gru_viz.nets.model import PARAM_NAMES, PRESETS, Forcing, GateForce, GRUScratch

V, H, B, T = 7, 12, 5, 6
GATE_PARAMS = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r")

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


def make_model(dtype: torch.dtype = torch.float64, seed: int = 0, vocab: int = V, hidden: int = H) -> GRUScratch:
    """A scratch GRU with weights drawn at 0.4 standard deviations, larger than d2l's init."""
    gen = torch.Generator().manual_seed(seed)
    m = GRUScratch(vocab, hidden).to(dtype)
    with torch.no_grad():  # larger than d2l's init, so that every gradient is far from zero
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.4)
    return m


def make_batch(dtype: torch.dtype = torch.float64, seed: int = 1, batch: int = B, steps: int = T, vocab: int = V,
               hidden: int = H) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random inputs, targets and a random carried state."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randint(0, vocab, (batch, steps), generator=gen)
    Y = torch.randint(0, vocab, (batch, steps), generator=gen)
    state = torch.randn(batch, hidden, generator=gen, dtype=dtype) * 0.5
    return X, Y, state


def assert_same_params(a: GRUScratch, b: GRUScratch, rtol: float, atol: float) -> None:
    """Every parameter of a equals b's within the tolerances (the failure names the parameter)."""
    for n in PARAM_NAMES:
        torch.testing.assert_close(getattr(a, n).detach(), getattr(b, n).detach(), rtol=rtol, atol=atol, msg=n)
