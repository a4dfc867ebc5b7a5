"""A race: the GRU and its gate-forced variants trained side by side on the same seed and minibatches.

Each variant is an ordinary Trainer (same initial weights, same random stream, so the same batches); the race
steps them one epoch each in turn, so their curves grow together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gru_viz.model import FREE, Forcing
from gru_viz.train import EpochReport, TrainConfig, Trainer, TrainingDiverged

VARIANTS: dict[str, Forcing] = {
    "GRU": FREE,
    "plain RNN (Z=0, R=1)": Forcing.gates(r=1.0, z=0.0),
    "reset gate only (Z=0)": Forcing.gates(z=0.0),
    "update gate only (R=1)": Forcing.gates(r=1.0),
}


class Race:
    """Duck-types Trainer for the background worker: run, pause, resume, stop, history, snapshots, model."""

    def __init__(self, tokens: list[int], vocab_size: int, config: TrainConfig,
                 callback: Callable[[EpochReport], None] | None = None, variants: dict[str, Forcing] = VARIANTS,
                 snapshot_epochs: tuple[int, ...] = ()):
        self.config, self.callback = config, callback
        self.trainers: dict[str, Trainer] = {}
        for name, f in variants.items():
            cfg = dataclasses.replace(config, force_r=f.reset.value, force_z=f.update.value)
            self.trainers[name] = Trainer(tokens, vocab_size, cfg, snapshot_epochs=snapshot_epochs)
        self.lead = next(iter(self.trainers.values()))  # the free GRU: progress, samples, snapshots
        self.status, self.message = "ready", ""

    # the parts of Trainer's interface the worker uses
    @property
    def model(self):
        return self.lead.model

    @property
    def device(self):
        return self.lead.device

    @property
    def history(self) -> list[dict]:
        return self.lead.history

    @property
    def snapshots(self):
        return self.lead.snapshots

    @property
    def _lock(self):
        return self.lead._lock

    @property
    def epoch(self) -> int:
        return min(t.epoch for t in self.trainers.values())

    def latest_params(self):
        return self.lead.latest_params()

    def histories(self) -> dict[str, list[dict]]:
        return {name: list(t.history) for name, t in self.trainers.items()}

    def pause(self) -> None:
        for t in self.trainers.values():
            t._run_gate.clear()

    def resume(self) -> None:
        for t in self.trainers.values():
            t._run_gate.set()

    def stop(self) -> None:
        for t in self.trainers.values():
            t.stop()

    def rearm(self) -> None:
        for t in self.trainers.values():
            t.rearm()

    def run(self) -> list[dict]:
        """One epoch of every variant in turn. A diverging variant drops out with its last good weights."""
        self.status = "running"
        racing = dict(self.trainers)
        reported = self.lead.epoch
        while racing and not self.lead._stop.is_set():
            for name, t in list(racing.items()):
                if t.epoch >= self.config.epochs:
                    racing.pop(name)
                    continue
                try:
                    if not t.train_epoch():
                        break
                except TrainingDiverged as exc:
                    t.status, t.message = "diverged", str(exc)
                    racing.pop(name)
            if self.callback and self.lead.epoch > reported:
                reported = self.lead.epoch
                self.callback(EpochReport(**self.lead.history[-1]))
        self.status = "stopped" if self.lead._stop.is_set() else "finished"
        return self.history
