"""RunHandle: what a background worker drives, whether it holds one Trainer or a race of several.

Both `gru_viz.train.Trainer` and `gru_viz.train.race.Race` implement it, so the worker never asks which it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch

from gru_viz.train import EpochReport, RunStatus, Trainer


@runtime_checkable
class RunHandle(Protocol):
    """A run's controls (safe from other threads), its lead model's record, and its lanes.

    A lane is one trained model with its own forcing and curve: a Trainer is a single lane under its own name;
    a race has one per variant. `history`, `snapshots` and the parameters are the lead lane's.
    """

    status: RunStatus
    message: str
    device: torch.device
    history: list[EpochReport]
    snapshots: Mapping[int, dict[str, torch.Tensor]]

    def run(self) -> object: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self, reason: str = "") -> None: ...
    def rearm(self) -> None: ...
    def latest_params(self) -> dict[str, torch.Tensor]: ...
    def snapshot_params(self, epoch: int) -> dict[str, torch.Tensor]: ...
    def lanes(self) -> dict[str, Trainer]: ...
