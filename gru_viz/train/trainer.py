"""Training with d2l's train_ch8 semantics as a Trainer: epochs of minibatches through the chosen engine's step,
a callback per epoch, pause and stop from other threads, snapshots, and a divergence restored to its last good epoch."""

from __future__ import annotations

import functools
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from gru_viz.data import batches, min_corpus_tokens
from gru_viz.nets.model import Forcing, GRUScratch, clone_params
from gru_viz.train.config import ConfigError, TrainConfig, resolve_device
from gru_viz.train.report import EpochReport, RunStatus
from gru_viz.train.textbook import perplexity, textbook_step

StepFn = Callable[
    [GRUScratch, torch.Tensor, torch.Tensor, torch.Tensor, float, float, Forcing], tuple[float, torch.Tensor]
]


def _fast_step(*args, loops: str | None = None):  # imported lazily so the textbook path never needs the fast one
    from gru_viz.fast import run_step

    return run_step(*args, loops=loops)


ENGINES: dict[str, StepFn] = {"textbook": textbook_step, "fast": _fast_step}  # config.ENGINE_NAMES, in order


class TrainingDiverged(RuntimeError):
    """The loss became non-finite or exploded; the model was restored to its last good epoch."""


DEFAULT_SNAPSHOT_EPOCHS = (1, 5, 10, 20, 50, 100, 250, 500)


def snapshot_epochs(epochs: int, keep: int = len(DEFAULT_SNAPSHOT_EPOCHS)) -> tuple[int, ...]:
    """The default snapshot epochs of a run of `epochs`, at most `keep` of them with the last epoch (always
    kept by the Trainer) counted in."""
    return tuple(e for e in DEFAULT_SNAPSHOT_EPOCHS if e < epochs)[-(keep - 1):] if keep > 1 else ()


@dataclass
class Trainer:
    """Trains a GRUScratch on a token stream; `run()` blocks, so the app calls it in a worker thread.

    `pause()`, `resume()` and `stop()` are safe from other threads and take effect between minibatches.
    """

    tokens: list[int]
    vocab_size: int
    config: TrainConfig = field(default_factory=TrainConfig)
    callback: Callable[[EpochReport], None] | None = None
    model: GRUScratch | None = None
    snapshot_epochs: tuple[int, ...] = DEFAULT_SNAPSHOT_EPOCHS
    num_threads: int | None = None
    name: str = "GRU"  # its lane's name on the page (a race names each of its trainers)

    def __post_init__(self) -> None:
        cfg = self.config
        need = min_corpus_tokens(cfg.batch_size, cfg.num_steps)
        if len(self.tokens) < need:
            raise ConfigError(
                f"the corpus has {len(self.tokens)} tokens, but batch size {cfg.batch_size} × {cfg.num_steps} steps "
                f"needs at least {need}: use more text or a smaller batch size or number of steps"
            )
        self.device = resolve_device(cfg.device)
        if self.model is None:
            generator = torch.Generator().manual_seed(cfg.seed)
            self.model = GRUScratch(self.vocab_size, cfg.hidden, generator=generator)
        elif self.model.vocab_size != self.vocab_size:
            raise ConfigError("the model's vocabulary size does not match the corpus")
        if getattr(self.model, "arch", "gru") != "gru" and (cfg.engine != "textbook" or cfg.forcing.active):
            raise ConfigError("a plain RNN trains only with the textbook engine and without forced gates")
        self.model.to(self.device)
        self.history: list[EpochReport] = []
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}
        self.status = RunStatus.READY
        self.message = ""  # why the run stopped or diverged, in words
        self.epoch = 0
        self._lock = threading.Lock()
        self._good = clone_params(self.model)  # the last parameters that ended an epoch with a finite loss
        if 0 in self.snapshot_epochs:  # epoch 0: the initialisation
            self.snapshots[0] = {k: v.cpu() for k, v in self._good.items()}
        self._run_gate = threading.Event()
        self._run_gate.set()
        self._stop = threading.Event()
        self._rng = random.Random(cfg.seed)  # one stream for the whole run, so a continued run is not a replay
        self._elapsed, self._tokens = 0.0, 0
        self.loops = None  # the fast path's LoopChoice, made at the run's first step and kept for the whole run

    def choose_loops(self):
        """The fast path's loops for this run (`gru_viz.fast.choose_loops`, measured on first use at these shapes),
        chosen once: a kernel build that finishes mid-run does not switch them."""
        if self.loops is None and self.config.engine == "fast":
            from gru_viz.fast import choose_loops

            cfg = self.config
            strength = cfg.forcing.strength if cfg.forcing.active else 1.0  # loops that cannot blend are left out
            self.loops = choose_loops(self.device, self.model.W_hq.dtype, self.vocab_size, cfg.batch_size,
                                      self.model.hidden, steps=cfg.num_steps, strength=strength)
        return self.loops

    # --- control from other threads ---
    def pause(self) -> None:
        if self.status in (RunStatus.READY, RunStatus.RUNNING):
            self._run_gate.clear()
            self.status = RunStatus.PAUSED

    def resume(self) -> None:
        if self.status == RunStatus.PAUSED:
            self.status = RunStatus.RUNNING
        self._run_gate.set()

    def stop(self, reason: str = "") -> None:
        """Stop between minibatches; `reason` (for a person) becomes `message`."""
        if reason:
            self.message = reason
        self._stop.set()
        self._run_gate.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def rearm(self) -> None:
        """Allow `run()` again after a stop: it continues with the next epoch."""
        self._stop.clear()
        self._run_gate.set()
        self.status, self.message = RunStatus.READY, ""

    def lanes(self) -> dict[str, Trainer]:
        """The models this run trains, by name: this one (gru_viz.serve.handle.RunHandle; a race has several)."""
        return {self.name: self}

    def latest_params(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the parameters at the end of the last good epoch (safe while training runs)."""
        with self._lock:
            return {k: v.cpu().clone() for k, v in self._good.items()}

    def snapshot_params(self, epoch: int) -> dict[str, torch.Tensor]:
        """A copy of the parameters kept at `epoch` (one of `snapshots`; safe while training runs)."""
        with self._lock:
            return {k: v.clone() for k, v in self.snapshots[epoch].items()}

    # --- the loop ---
    def train_epoch(self) -> bool:
        """Train the next epoch. False when a stop interrupted it (that epoch does not count);
        raises TrainingDiverged after restoring the last good parameters.
        """
        cfg, model, epoch = self.config, self.model, self.epoch + 1
        step, forcing = ENGINES[cfg.engine], cfg.forcing
        if cfg.engine == "fast":
            step = functools.partial(_fast_step, loops=self.choose_loops().loops)
        diverge_loss = 10 * math.log(self.vocab_size)  # an untrained model starts near log(vocab)
        loss_sum, n_tokens, t0 = 0.0, 0, time.perf_counter()
        state = None
        for X, Y in batches(self.tokens, cfg.batch_size, cfg.num_steps, cfg.random_iter, self._rng):
            self._run_gate.wait()
            if self._stop.is_set():
                return False
            if state is None or cfg.random_iter:
                state = model.begin_state(X.shape[0], self.device)
            loss, state = step(model, X.to(self.device), Y.to(self.device), state, cfg.lr, cfg.clip, forcing)
            if not math.isfinite(loss) or loss > diverge_loss:
                with self._lock, torch.no_grad():
                    for name, p in model.params().items():
                        p.copy_(self._good[name])
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch} (loss {loss:.3g}); the model was restored to "
                    f"epoch {self.epoch}: lower the learning rate or the clipping θ"
                )
            loss_sum += loss * Y.numel()
            n_tokens += Y.numel()
        seconds = time.perf_counter() - t0
        self._tokens += n_tokens
        self._elapsed += seconds
        self._end_epoch(epoch, loss_sum / n_tokens, n_tokens / seconds, self._elapsed, self._tokens)
        return True

    def run(self) -> list[dict]:
        """Train until the last epoch, a stop or a divergence; `status` says which."""
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        if self.status != RunStatus.PAUSED:  # paused before the first epoch: stays paused until resumed
            self.status = RunStatus.RUNNING
        try:
            while self.epoch < self.config.epochs and self.train_epoch():
                pass
            self.status = RunStatus.STOPPED if self._stop.is_set() else RunStatus.FINISHED
        except TrainingDiverged as exc:
            self.status, self.message = RunStatus.DIVERGED, str(exc)
        return self.history

    def _end_epoch(self, epoch: int, mean_loss: float, tps: float, elapsed: float, total_tokens: int) -> None:
        report = EpochReport(epoch, self.config.epochs, perplexity(mean_loss), mean_loss, tps, elapsed, total_tokens)
        with self._lock:
            self._good = clone_params(self.model)
            self.epoch = epoch
            self.history.append(report)
            if epoch in self.snapshot_epochs or epoch == self.config.epochs:
                self.snapshots[epoch] = {k: v.cpu() for k, v in self._good.items()}
        if self.callback:
            self.callback(report)
