"""A training run in a background thread for one visitor: a plain object, no Streamlit calls.

The page polls `snapshot()`; everything the thread shares is behind one lock. A global semaphore caps how many
runs train at once; a run waiting for a slot is 'queued' and says so.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

import torch

from gru_viz.data import Corpus
from gru_viz.inference import predict
from gru_viz.model import from_params
from gru_viz.race import Race
from gru_viz.train import EpochReport, TrainConfig, Trainer

log = logging.getLogger(__name__)
_ids = itertools.count(1)
ALL_WORKERS: weakref.WeakSet[TrainingWorker] = weakref.WeakSet()


@dataclass
class Snapshot:
    """What the page shows of a run; a copy, safe to read without the lock."""

    run_id: int
    label: str
    status: str  # queued, running, paused, stopped, finished, diverged, failed
    epoch: int
    epochs: int
    history: list[dict]
    sample: str | dict[str, str]  # a race has one continuation per variant
    sample_epoch: int
    message: str
    tokens_per_sec: float
    elapsed: float
    device: str
    forcing: str
    snapshot_epochs: list[int] = field(default_factory=list)
    curves: dict[str, list[dict]] = field(default_factory=dict)  # label -> history (one per race variant)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running", "paused")

    @property
    def seconds_left(self) -> float | None:
        if self.epoch == 0 or self.elapsed <= 0:
            return None
        return self.elapsed / self.epoch * (self.epochs - self.epoch)


class TrainingWorker:
    """Owns one Trainer and its thread; `start`, `pause`, `resume`, `stop` may be called from any thread."""

    def __init__(self, corpus: Corpus, config: TrainConfig, label: str = "GRU",
                 limiter: threading.Semaphore | None = None, prefix: str = "time traveller",
                 sample_every: int = 5, num_threads: int = 1, max_snapshots: int = 8, race: bool = False):
        self.run_id = next(_ids)
        self.corpus, self.config, self.label, self.prefix = corpus, config, label, prefix
        self.sample_every, self.limiter, self.num_threads = sample_every, limiter, num_threads
        self._lock = threading.Lock()
        self._status, self._message, self._sample, self._sample_epoch = "queued", "", "", 0
        self._report: EpochReport | None = None
        self._stop_requested = threading.Event()
        self.last_seen = time.monotonic()  # the visitor's page touched this run (every rerun, every poll)
        snap_epochs = tuple(e for e in (1, 5, 10, 20, 50, 100, 250, 500) if e <= config.epochs)[-max_snapshots + 1:]
        # Building the Trainer validates everything (corpus length, settings, device) before a thread exists.
        make = Race if race else Trainer
        self.trainer = make(corpus.tokens, len(corpus.vocab), config, callback=self._on_epoch,
                            snapshot_epochs=snap_epochs)
        self.race = race
        self._thread = threading.Thread(target=self._run, name=f"gru-train-{self.run_id}", daemon=True)
        ALL_WORKERS.add(self)

    # --- control ---
    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        with self._lock:
            if self._status == "running":
                self.trainer.pause()
                self._status = "paused"

    def resume(self) -> None:
        with self._lock:
            if self._status == "paused":
                self.trainer.resume()
                self._status = "running"

    def stop(self) -> None:
        self._stop_requested.set()
        self.trainer.stop()

    @property
    def can_continue(self) -> bool:
        """A stopped run (by the visitor, or because their tab closed) can train on from where it stopped."""
        snap = self.snapshot()
        return snap.status == "stopped" and snap.epoch < snap.epochs and not self._thread.is_alive()

    def restart(self) -> None:
        """Continue a stopped run in a new thread, from the next epoch, with the same random stream."""
        if not self.can_continue:
            return
        self._stop_requested.clear()
        self.trainer.rearm()
        with self._lock:
            self._status = "queued"
        self._thread = threading.Thread(target=self._run, name=f"gru-train-{self.run_id}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- what the page reads ---
    def snapshot(self) -> Snapshot:
        with self._lock:
            r = self._report
            return Snapshot(
                run_id=self.run_id, label=self.label, status=self._status, epoch=r.epoch if r else 0,
                epochs=self.config.epochs, history=list(self.trainer.history), sample=self._sample,
                sample_epoch=self._sample_epoch, message=self._message,
                tokens_per_sec=r.tokens_per_sec if r else 0.0, elapsed=r.elapsed if r else 0.0,
                device=str(self.trainer.device), forcing=self.config.forcing.describe(),
                snapshot_epochs=sorted(self.trainer.snapshots),
                curves=self.trainer.histories() if self.race else {self.label: list(self.trainer.history)})

    def params_at(self, epoch: int | None = None) -> dict[str, torch.Tensor]:
        """Parameters of a kept snapshot epoch, or of the last completed epoch (None)."""
        if epoch is None:
            return self.trainer.latest_params()
        with self.trainer._lock:
            return {k: v.clone() for k, v in self.trainer.snapshots[epoch].items()}

    # --- the thread ---
    def _on_epoch(self, report: EpochReport) -> None:
        sample = None
        if report.epoch % self.sample_every == 0 or report.epoch in (1, report.epochs):
            # Between epochs the models are not being updated, so they can be read here without copying.
            if self.race:
                sample = {name: predict(self.prefix, 50, t.model, self.corpus.vocab, t.config.forcing)
                          for name, t in self.trainer.trainers.items()}
            else:
                sample = predict(self.prefix, 50, self.trainer.model, self.corpus.vocab, self.config.forcing)
        with self._lock:
            self._report = report
            if sample is not None:
                self._sample, self._sample_epoch = sample, report.epoch

    def _run(self) -> None:
        acquired = False
        try:
            while self.limiter is not None and not acquired:
                acquired = self.limiter.acquire(timeout=0.2)
                if self._stop_requested.is_set():
                    with self._lock:
                        self._status = "stopped"
                    return
            with self._lock:
                if self._status == "queued":
                    self._status = "running"
            torch.set_num_threads(self.num_threads)  # per thread: this run's share of the cores
            self.trainer.run()
            with self._lock:
                self._status = self.trainer.status
                self._message = self.trainer.message
        except Exception as exc:  # noqa: BLE001 (a thread boundary: the visitor gets a message, the log the traceback)
            log.exception("training run %s failed", self.run_id)
            with self._lock:
                self._status, self._message = "failed", f"training failed: {str(exc).splitlines()[0][:300]}"
        finally:
            if acquired and self.limiter is not None:
                self.limiter.release()

    def model(self, epoch: int | None = None):
        """A fresh CPU model with the parameters of `epoch` (None: the latest epoch)."""
        return from_params(self.params_at(epoch))


def reap_unseen(grace_seconds: float, now: float | None = None) -> int:
    """Stop active runs whose page has not been seen for `grace_seconds` (a lost session); returns how many."""
    now = time.monotonic() if now is None else now
    stopped = 0
    for w in list(ALL_WORKERS):
        if now - w.last_seen > grace_seconds and w.snapshot().active:
            w.stop()
            stopped += 1
    return stopped

