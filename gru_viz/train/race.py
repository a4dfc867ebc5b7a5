"""A race: the GRU and its gate-forced variants trained side by side on the same seed and minibatches.

Each variant is an ordinary Trainer (same initial weights, same random stream, so the same batches); the race
steps them one epoch each in turn, so their curves grow together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gru_viz.nets.model import FREE, PRESETS, Forcing
from gru_viz.train import EpochReport, RunStatus, TrainConfig, Trainer, TrainingDiverged

# Stable ids (the keys of a race's histories and samples); the page names them in its language (variant_<id>).
VARIANTS: dict[str, Forcing] = {
    "gru": FREE,
    "plain_rnn": PRESETS["plain_rnn"],  # Z=0, R=1
    "reset_only": Forcing.gates(z=0.0),
    "update_only": Forcing.gates(r=1.0),
}


class Race:
    """A RunHandle (gru_viz.serve.handle) like a Trainer: run, pause, resume, stop, the lead's record, one lane
    per variant."""

    def __init__(self, tokens: list[int], vocab_size: int, config: TrainConfig,
                 callback: Callable[[EpochReport], None] | None = None, variants: dict[str, Forcing] = VARIANTS,
                 snapshot_epochs: tuple[int, ...] = ()):
        self.config, self.callback = config, callback
        self.trainers: dict[str, Trainer] = {
            name: Trainer(tokens, vocab_size, dataclasses.replace(config, forcing=f), snapshot_epochs=snapshot_epochs,
                          name=name)
            for name, f in variants.items()}
        self.lead = next(iter(self.trainers.values()))  # the free GRU: progress, samples, snapshots
        self.status, self.message = RunStatus.READY, ""

    # the parts of Trainer's interface the worker uses
    @property
    def model(self):
        return self.lead.model

    @property
    def device(self):
        return self.lead.device

    @property
    def history(self) -> list[EpochReport]:
        return self.lead.history

    @property
    def snapshots(self):
        return self.lead.snapshots

    @property
    def epoch(self) -> int:
        return min(t.epoch for t in self.trainers.values())

    def latest_params(self):
        return self.lead.latest_params()

    def snapshot_params(self, epoch: int):
        return self.lead.snapshot_params(epoch)

    def histories(self) -> dict[str, list[EpochReport]]:
        return {name: list(t.history) for name, t in self.trainers.items()}

    def lanes(self) -> dict[str, Trainer]:
        return dict(self.trainers)

    def pause(self) -> None:
        for t in self.trainers.values():
            t.pause()
        if self.status in (RunStatus.READY, RunStatus.RUNNING):
            self.status = RunStatus.PAUSED

    def resume(self) -> None:
        for t in self.trainers.values():
            t.resume()
        if self.status == RunStatus.PAUSED:
            self.status = RunStatus.RUNNING

    def stop(self, reason: str = "") -> None:
        if reason:
            self.message = reason
        for t in self.trainers.values():
            t.stop()

    def rearm(self) -> None:
        for t in self.trainers.values():
            t.rearm()
        self.status, self.message = RunStatus.READY, ""

    def run(self) -> list[EpochReport]:
        """One epoch of every variant in turn. A diverging variant drops out with its last good weights."""
        if self.status != RunStatus.PAUSED:
            self.status = RunStatus.RUNNING
        racing = dict(self.trainers)
        reported = self.lead.epoch
        while racing and not self.lead.stopping:
            for name, t in list(racing.items()):
                if t.epoch >= self.config.epochs:
                    racing.pop(name)
                    continue
                try:
                    if not t.train_epoch():
                        break
                except TrainingDiverged as exc:
                    t.status, t.message = RunStatus.DIVERGED, str(exc)
                    racing.pop(name)
            if self.callback and self.lead.epoch > reported:
                reported = self.lead.epoch
                self.callback(self.lead.history[-1])
        self.status = RunStatus.STOPPED if self.lead.stopping else RunStatus.FINISHED
        return self.history


SAME_SPEED_FLOOR = 0.05  # two speeds within 5 % are "about the same" whatever the epochs' own spread


@dataclasses.dataclass(frozen=True)
class SpeedVerdict:
    """Two lanes' measured speeds (median tokens/s over their epochs after the first), the noise band they are
    compared within, and the verdict: "same" inside the band, else which is faster."""

    gru: float
    rnn: float
    band: float
    verdict: str  # "same", "gru_faster" or "rnn_faster"


def speed_verdict(gru: list, rnn: list) -> SpeedVerdict | None:
    """Compare two lanes' EpochReports. The band is the larger of SAME_SPEED_FLOOR and twice each lane's own
    spread (median absolute deviation over its median): run-to-run noise, measured, not assumed. None when a lane
    has no epoch yet."""
    def speeds(reports: list) -> list[float]:
        s = [r.tokens_per_sec for r in reports if r.tokens_per_sec > 0]
        return s[1:] if len(s) > 2 else s  # the first epoch warms caches and threads

    a, b = speeds(gru), speeds(rnn)
    if not a or not b:
        return None

    def median(xs: list[float]) -> float:
        ys = sorted(xs)
        mid = len(ys) // 2
        return ys[mid] if len(ys) % 2 else (ys[mid - 1] + ys[mid]) / 2

    ma, mb = median(a), median(b)
    spread = max(median([abs(x - ma) for x in a]) / ma, median([abs(x - mb) for x in b]) / mb)
    band = max(SAME_SPEED_FLOOR, 2 * spread)
    diff = (ma - mb) / max(ma, mb)
    verdict = "same" if abs(diff) <= band else ("gru_faster" if diff > 0 else "rnn_faster")
    return SpeedVerdict(ma, mb, band, verdict)
