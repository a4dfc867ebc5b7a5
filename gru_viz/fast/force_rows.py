"""A forcing as the fast loops apply it: a few distinct rows of keep and value per step, at any strength, and the
free gates behind blended ones (their σ' is what the backward needs)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from gru_viz.nets.model import Forcing


class ForceRows(NamedTuple):
    """A forcing as the loops apply it (`_force_rows`)."""

    rows: torch.Tensor  # (4, 2, 2h): for nothing / Z / R / both forced, keep (1 free, 1 − s forced) and s·value
    of_step: list[int]  # each step's row
    whole: list[bool]  # which rows force every gate of every unit (nothing left to compute)
    strength: float = 1.0  # s: below 1 a forced gate keeps (1 − s) of its free value (and of its gradient)

    def gates_forced(self) -> list[bool]:
        """Per step: every gate of every unit forced (the step of a plain RNN)."""
        return [self.whole[k] for k in self.of_step]

    def per_step(self) -> torch.Tensor:
        """(steps, 2, 2h): each step's keep and forced values."""
        return self.rows[torch.tensor(self.of_step, device=self.rows.device)]


def _force_rows(forcing: Forcing, steps: int, hidden: int, start_step: int, like: torch.Tensor) -> ForceRows | None:
    """The forcing of `steps` steps as a few distinct rows and each step's row: rows (4, 2, 2h) hold, for nothing /
    Z / R / both forced, keep (1 where free, 1 − s where forced) and s times the forced value (0 where free), so
    that keep·gate + value is the model's (1 − s)·free + s·forced; step i uses row (Z forced at i) + 2 (R forced
    at i). None when nothing is forced in these steps.

    Step i is time step start_step + i, so a forcing's step range stays absolute, as in GRUScratch.forward.
    """
    if not forcing.active:
        return None
    s = forcing.strength
    rows = torch.zeros(4, 2, 2 * hidden, dtype=like.dtype)
    rows[:, 0] = 1.0
    t = torch.arange(start_step, start_step + steps)
    code = torch.zeros(steps, dtype=torch.long)
    for bit, offset, gate in ((1, 0, forcing.update), (2, hidden, forcing.reset)):
        gate.check(hidden)
        if not gate.active or gate.units == ():
            continue
        cols = list(range(offset, offset + hidden)) if gate.units is None else [offset + u for u in gate.units]
        for k in (bit, 3):
            rows[k, 0, cols] = 1.0 - s
            rows[k, 1, cols] = s * gate.value
        code += bit * (torch.ones_like(code) if gate.steps is None else (t >= gate.steps[0]) & (t < gate.steps[1]))
    if not bool(code.any()):
        return None
    return ForceRows(rows.to(like.device), code.tolist(), (rows[:, 0] == 0).all(dim=1).tolist(), s)


def _strength(forcing: Forcing) -> float:
    """The strength the loops must compute: 1 when nothing is forced (a free run blends nothing)."""
    return forcing.strength if forcing.active else 1.0


def free_gates(zr: torch.Tensor, force: ForceRows | None, feature_major: bool = False) -> torch.Tensor | None:
    """Below full strength, the free gates [Z | R] behind the blended ones in zr (T, B, 2h) or, feature-major,
    (T, 2h, B): (blended − s·value) / (1 − s), whose σ' the backward needs. None at full strength (a forced gate
    then passes no gradient, and its σ' is multiplied by 0)."""
    if force is None or force.strength >= 1.0:
        return None
    per_step = force.per_step()  # (T, 2, 2h)
    keep, value = (per_step[:, 0].unsqueeze(-1), per_step[:, 1].unsqueeze(-1)) if feature_major else (
        per_step[:, 0].unsqueeze(1), per_step[:, 1].unsqueeze(1))
    return (zr - value) / keep


def _force_table(force: ForceRows | None) -> torch.Tensor | None:
    """The C++ loops' form of `_force_rows`: (steps, 2h) forced value per step and unit, NaN where free."""
    if force is None:
        return None
    per_step = force.per_step()
    return per_step[:, 1].masked_fill(per_step[:, 0] == 1, float("nan"))
