"""What a run reports: one EpochReport per epoch (its history) and where the run is (RunStatus), shared by a
Trainer, a race and the app's worker."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class EpochReport:
    """What the callback receives after each epoch; a run's history is a list of these."""

    epoch: int
    epochs: int
    perplexity: float
    loss: float
    tokens_per_sec: float
    elapsed: float
    tokens: int

    @classmethod
    def from_dict(cls, d: dict) -> EpochReport:
        return cls(**{f.name: d[f.name] for f in fields(cls)})


def history_dicts(history: Iterable[EpochReport]) -> list[dict]:
    """A history as JSON-ready dicts (checkpoint metadata, `train --json`)."""
    return [asdict(r) for r in history]


class RunStatus(str, enum.Enum):
    """Where a run is; one type for a Trainer, a Race and the app's background worker."""

    READY = "ready"  # built, not started
    QUEUED = "queued"  # the app's worker waits for a free training slot
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"
    DIVERGED = "diverged"
    FAILED = "failed"  # an unexpected error in the app's worker

    @property
    def active(self) -> bool:
        return self in (RunStatus.READY, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)

