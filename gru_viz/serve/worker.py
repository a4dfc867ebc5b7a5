"""A training run in a background thread for one visitor: a plain object, no Streamlit calls.

The page polls `progress()` (a copy; "snapshots" are the weights kept at some epochs); everything the thread shares
is behind one lock. The server's TrainingSlots (slots.py) cap how many runs train at once and within what memory;
a run waiting for a slot is 'queued' and says where it is in the queue.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

import torch

from gru_viz.data import Corpus
from gru_viz.explain.inference import PREFIX, predict
from gru_viz.nets.model import Forcing, from_params
from gru_viz.serve.budget import release_memory
from gru_viz.serve.handle import RunHandle
from gru_viz.serve.kept import kept_run_bytes
from gru_viz.serve.slots import TrainingSlots
from gru_viz.train import EpochReport, RunStatus, TrainConfig, Trainer, snapshot_epochs
from gru_viz.train.race import Race

log = logging.getLogger(__name__)
_ids = itertools.count(1)
ALL_WORKERS: weakref.WeakSet[TrainingWorker] = weakref.WeakSet()


@dataclass
class RunProgress:
    """What the page shows of a run; a copy, safe to read without the lock."""

    run_id: int
    label: str
    status: RunStatus
    epoch: int
    epochs: int
    history: list[EpochReport]
    sample: dict[str, str]  # lane name -> its continuation (one lane, or one per race variant)
    sample_epoch: int
    message: str
    tokens_per_sec: float
    elapsed: float
    device: str
    forcing: Forcing  # described in the page's language by ui.actions.describe_forcing
    snapshot_epochs: list[int] = field(default_factory=list)
    curves: dict[str, list[EpochReport]] = field(default_factory=dict)  # label -> history (one per race variant)
    dropped: str = ""  # why its models were freed (a key of gru_viz.serve.kept's reasons); "" while kept

    @property
    def active(self) -> bool:
        return self.status.active

    @property
    def seconds_left(self) -> float | None:
        if self.epoch == 0 or self.elapsed <= 0:
            return None
        return self.elapsed / self.epoch * (self.epochs - self.epoch)


class TrainingWorker:
    """Owns one RunHandle (a Trainer or a race) and its thread; `start`, `pause`, `resume`, `stop` may be called
    from any thread."""

    def __init__(self, corpus: Corpus, config: TrainConfig, label: str = "GRU",
                 limiter: TrainingSlots | None = None, prefix: str = PREFIX,
                 sample_every: int = 5, num_threads: int = 1, max_snapshots: int = 8, race: bool = False,
                 number: int = 1, time_limit: float | None = None, visitor: str = "", memory: int = 0,
                 network: str = ""):
        self.run_id = next(_ids)  # unique on the server (caches); `number` counts the visitor's own runs
        self.number = number
        self.visitor = visitor  # the browser the run belongs to: one active run per visitor, across their tabs
        self.network = network  # where the visitor is (ratelimit.client_key): the queue's fairness counts it
        self._turns = 0  # slots this run has held (a run continued after its time limit queues as a later turn)
        self.memory = memory  # estimated peak bytes, reserved in the slots while it trains
        self.time_limit = time_limit  # seconds of training per start on a shared server (None: no limit)
        self._limit_base = 0.0  # training seconds already used when this start began
        self.corpus, self.config, self.label, self.prefix = corpus, config, label, prefix
        self.sample_every, self.limiter, self.num_threads = sample_every, limiter, num_threads
        self._lock = threading.Lock()
        self._waiting = True  # for a training slot; the trainer's own status says the rest
        self._failure = ""  # an unexpected error, in words: the run is then FAILED
        self._sample: dict[str, str] = {}
        self._sample_epoch = 0
        self._report: EpochReport | None = None
        self._stop_requested = threading.Event()
        self._dropped = ""  # its models were freed to make room (serve.kept): the reason's key
        self._final: RunProgress | None = None  # what the page still shows of a dropped run
        self._in_thread = False  # between the thread's start and its end (a drop then waits for the end)
        self._drop_pending = ""
        self.max_snapshots = max_snapshots
        self.last_seen = time.monotonic()  # the visitor's page touched this run (every rerun, every poll)
        # Building the Trainer validates everything (corpus length, settings, device) before a thread exists.
        keep = snapshot_epochs(config.epochs, max_snapshots)
        self.handle: RunHandle = (Race(corpus.tokens, len(corpus.vocab), config, callback=self._on_epoch,
                                       snapshot_epochs=keep) if race else
                                  Trainer(corpus.tokens, len(corpus.vocab), config, callback=self._on_epoch,
                                          snapshot_epochs=keep, name=label))
        self.race = race  # for the page (is a race running?); the worker itself treats every handle alike
        self._thread = threading.Thread(target=self._run, name=f"gru-train-{self.run_id}", daemon=True)
        ALL_WORKERS.add(self)

    @property
    def status(self) -> RunStatus:
        if self._final is not None:
            return self._final.status
        if self._failure:
            return RunStatus.FAILED
        if self._stop_requested.is_set() and self._waiting:
            return RunStatus.STOPPED
        if self._waiting:
            return RunStatus.PAUSED if self.handle.status == RunStatus.PAUSED else RunStatus.QUEUED
        return self.handle.status

    # --- control ---
    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        if not self._dropped:
            self.handle.pause()

    def resume(self) -> None:
        if not self._dropped:
            self.handle.resume()

    def stop(self, reason: str = "") -> None:
        """Stop the run; `reason` says why, for the visitor (empty when they pressed Stop themselves)."""
        self._stop_requested.set()
        if not self._dropped:
            self.handle.stop(reason)

    def kept_bytes(self) -> int:
        """What this run keeps once it ends (gru_viz.serve.kept.kept_run_bytes, measured)."""
        handle = self.handle
        if handle is None:
            return 0
        return kept_run_bytes(self.config.hidden, len(self.corpus.vocab), len(handle.snapshots), len(handle.lanes()))

    def drop(self, reason: str) -> None:
        """Free this run's models and snapshots (the server needs the room, or its page closed); its curve and
        samples stay. A run still in its thread is freed when the thread ends."""
        with self._lock:
            if self._in_thread:
                self._drop_pending = reason
                return
        self._free(reason)

    def _free(self, reason: str) -> None:
        final = self.progress()
        with self._lock:
            self._final = dataclasses.replace(final, snapshot_epochs=[], dropped=reason)
            self._dropped = reason
            self.handle = None  # type: ignore[assignment]  # the models go with it
        release_memory()

    @property
    def can_continue(self) -> bool:
        """A stopped run (by the visitor, or because their tab closed) can train on from where it stopped."""
        snap = self.progress()
        return (snap.status == RunStatus.STOPPED and snap.epoch < snap.epochs and not self._thread.is_alive()
                and not self._dropped)

    def restart(self) -> None:
        """Continue a stopped run in a new thread, from the next epoch, with the same random stream."""
        if not self.can_continue:
            return
        self._stop_requested.clear()
        if self.limiter is not None and self.limiter.kept is not None:
            self.limiter.kept.remove(self)  # training again: its slot's reservation counts it
        self.handle.rearm()
        self._limit_base = self._report.elapsed if self._report else 0.0
        self._waiting = True
        self._thread = threading.Thread(target=self._run, name=f"gru-train-{self.run_id}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- what the page reads ---
    def queue_position(self) -> int:
        """1 when this run is next for a training slot; 0 when it is not waiting."""
        return self.limiter.position(self) if self.limiter is not None and self._waiting else 0

    def progress(self) -> RunProgress:
        with self._lock:
            if self._final is not None:
                return dataclasses.replace(self._final, history=list(self._final.history))
            r = self._report
            status = self.status
            return RunProgress(
                run_id=self.run_id, label=self.label, status=status, epoch=r.epoch if r else 0,
                epochs=self.config.epochs, history=list(self.handle.history), sample=self._sample,
                sample_epoch=self._sample_epoch, message=self._failure or self.handle.message,
                tokens_per_sec=r.tokens_per_sec if r else 0.0, elapsed=r.elapsed if r else 0.0,
                device=str(self.handle.device), forcing=self.config.forcing,
                snapshot_epochs=sorted(self.handle.snapshots),
                curves={name: list(t.history) for name, t in self.handle.lanes().items()})

    def params_at(self, epoch: int | None = None) -> dict[str, torch.Tensor]:
        """Parameters of a kept snapshot epoch, or of the last completed epoch (None)."""
        handle = self.handle
        if handle is None:
            raise LookupError(f"run {self.number}'s models were freed to make room")
        return handle.latest_params() if epoch is None else handle.snapshot_params(epoch)

    # --- the thread ---
    def _on_epoch(self, report: EpochReport) -> None:
        used = report.elapsed - self._limit_base
        if self.time_limit is not None and used >= self.time_limit and report.epoch < report.epochs:
            # fair to the others waiting for a slot; the visitor may Resume, which queues the run again
            self.handle.stop(f"this server's time limit of {self.time_limit / 60:g} min per run was reached; "
                              "Resume continues it when a slot is free")
        sample = None
        if report.epoch % self.sample_every == 0 or report.epoch in (1, report.epochs):
            # Between epochs the models are not being updated, so they can be read here without copying.
            sample = {name: predict(self.prefix, 50, t.model, self.corpus.vocab, t.config.forcing)
                      for name, t in self.handle.lanes().items()}
        with self._lock:
            self._report = report
            if sample is not None:
                self._sample, self._sample_epoch = sample, report.epoch

    def _run(self) -> None:
        acquired = False
        with self._lock:
            self._in_thread = True
        try:
            while self.limiter is not None and not acquired:
                acquired = self.limiter.acquire(self, self.memory, timeout=0.2, visitor=self.visitor,
                                                network=self.network, turn=self._turns)
                if self._stop_requested.is_set() and not acquired:
                    self.limiter.leave(self)
                    return
            self._waiting = False
            self._turns += 1
            torch.set_num_threads(self.num_threads)  # per thread: this run's share of the cores
            self.handle.run()
        except Exception as exc:  # noqa: BLE001 (a thread boundary: the visitor gets a message, the log the traceback)
            log.exception("training run %s failed", self.run_id)
            self._failure = f"training failed: {str(exc).splitlines()[0][:300]}"
        finally:
            if acquired and self.limiter is not None:
                self.limiter.release(self)
            with self._lock:
                self._in_thread = False
                pending, self._drop_pending = self._drop_pending, ""
            if pending:
                self._free(pending)
            elif self.limiter is not None and self.limiter.kept is not None and self.progress().epoch > 0:
                self.limiter.kept.add(self, self.visitor, self.kept_bytes(), self.drop)  # what it keeps counts now
            release_memory()  # the run's activations are freed: give their pages back to the OS

    def model(self, epoch: int | None = None):
        """A fresh CPU model with the parameters of `epoch` (None: the latest epoch)."""
        return from_params(self.params_at(epoch))


def reap_unseen(grace_seconds: float, now: float | None = None) -> int:
    """Stop active runs whose page has not been seen for `grace_seconds` (a lost session); returns how many."""
    now = time.monotonic() if now is None else now
    stopped = 0
    for w in list(ALL_WORKERS):
        if now - w.last_seen > grace_seconds and w.progress().active:
            w.stop(f"its page was not seen for {grace_seconds:.0f} s (the browser tab was closed or lost its "
                   "connection); Resume continues it")
            stopped += 1
    return stopped

