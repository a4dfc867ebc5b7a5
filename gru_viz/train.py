"""Training with d2l's train_ch8 semantics: SGD, gradient clipping, perplexity; a callback, pause and stop."""

from __future__ import annotations

import enum
import functools
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields

import torch
from torch.nn import functional as F

from gru_viz.data import batches, min_corpus_tokens
from gru_viz.model import FREE, Forcing, GateForce, GRUScratch, clone_params


class ConfigError(ValueError):
    """Settings that cannot work; the message is meant for a person."""


LIMITS = {"hidden": (1, 4096), "epochs": (1, 100_000), "batch_size": (1, 4096), "num_steps": (1, 1000)}


@dataclass(frozen=True)
class TrainConfig:
    """d2l's defaults for the chapter's run; `forcing` trains a model with gates held (on its units and steps)."""

    hidden: int = 256
    lr: float = 1.0
    epochs: int = 500
    batch_size: int = 32
    num_steps: int = 35
    clip: float = 1.0
    max_tokens: int = 10_000
    random_iter: bool = False
    seed: int = 0
    device: str = "auto"
    forcing: Forcing = FREE
    engine: str = "textbook"  # the CLI keeps d2l's code by default; the app uses "fast"

    def __post_init__(self) -> None:
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigError(f"{name.replace('_', ' ')} must be an integer from {lo} to {hi}, got {value}")
        for name in ("lr", "clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                label = "learning rate" if name == "lr" else "clipping θ"
                raise ConfigError(f"{label} must be a positive number, got {value}")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not isinstance(self.forcing, Forcing):
            raise ConfigError("forcing must be a Forcing")
        try:
            self.forcing.reset.check(self.hidden)
            self.forcing.update.check(self.hidden)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def to_dict(self) -> dict:
        """JSON-ready (checkpoint metadata, `train --json`): the forcing as its gates' value, units and steps."""
        d = asdict(self)
        d["forcing"] = {gate: {"value": g.value, "units": list(g.units) if g.units is not None else None,
                               "steps": list(g.steps) if g.steps is not None else None}
                        for gate, g in (("reset", self.forcing.reset), ("update", self.forcing.update))}
        if self.forcing.strength != 1.0:  # written only when set, so full-strength metadata stays as it was
            d["forcing"]["strength"] = self.forcing.strength
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of to_dict; also reads the force_r/force_z of checkpoints written before forcing was a field."""
        known = {f.name for f in fields(cls)} - {"forcing"}
        kwargs = {k: v for k, v in d.items() if k in known}
        f = d.get("forcing")
        if isinstance(f, dict):
            gates = {}
            for gate in ("reset", "update"):
                g = f.get(gate) or {}
                units, steps = g.get("units"), g.get("steps")
                gates[gate] = GateForce(g.get("value"), tuple(units) if units is not None else None,
                                        tuple(steps) if steps is not None else None)
            kwargs["forcing"] = Forcing(**gates, strength=f.get("strength", 1.0))
        elif d.get("force_r") is not None or d.get("force_z") is not None:
            kwargs["forcing"] = Forcing.gates(r=d.get("force_r"), z=d.get("force_z"))
        return cls(**kwargs)


def available_devices() -> list[str]:
    """The device choices this machine has: auto, cpu, and cuda / mps only where they exist."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU; an explicit device that is missing is a clear error."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available")
    if name == "mps" and not has_mps:
        raise ConfigError("MPS was requested but Apple's Metal backend is not available")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device must be auto, cpu, cuda or mps, got {name!r}")
    return torch.device(name)


def perplexity(mean_loss: float) -> float:
    """exp(loss) that never overflows: a diverged loss reads as infinite perplexity."""
    if not math.isfinite(mean_loss) or mean_loss > 700:
        return math.inf
    return math.exp(mean_loss)


def grad_clipping(params: list[torch.Tensor], theta: float) -> float:
    """d2l's grad_clipping: rescale all gradients together so their global norm is at most θ."""
    params = [p for p in params if p.grad is not None]  # a gate forced everywhere leaves its weights gradient-free
    norm = torch.sqrt(sum(torch.sum(p.grad**2) for p in params))
    if norm > theta:
        for p in params:
            p.grad.mul_(theta / norm)
    return float(norm)


def textbook_step(
    model: GRUScratch, X: torch.Tensor, Y: torch.Tensor, state: torch.Tensor, lr: float, clip: float, forcing: Forcing
) -> tuple[float, torch.Tensor]:
    """One minibatch as d2l does it: forward, mean cross-entropy, autograd, clip, SGD. Returns (loss, state)."""
    y = Y.T.reshape(-1)  # time-major, matching the logits
    logits, state, _ = model(X, state, forcing)
    loss = F.cross_entropy(logits, y)
    clipped_sgd(loss, list(model.params().values()), lr, clip)  # d2l's names, GRU's or plain RNN's
    return float(loss.detach()), state.detach()


def clipped_sgd(loss: torch.Tensor, params: list[torch.Tensor], lr: float, clip: float) -> None:
    """d2l's update: autograd, global-norm clipping to θ, then p -= lr·grad (d2l.sgd with batch size 1, since
    the loss is already a mean). Parameters a forced gate leaves without a gradient are not touched."""
    for p in params:
        p.grad = None
    loss.backward()
    grad_clipping(params, clip)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


StepFn = Callable[
    [GRUScratch, torch.Tensor, torch.Tensor, torch.Tensor, float, float, Forcing], tuple[float, torch.Tensor]
]


def _fast_step(*args, loops: str | None = None):  # imported lazily so the textbook path never needs the fast one
    from gru_viz.fast import run_step

    return run_step(*args, loops=loops)


ENGINES: dict[str, StepFn] = {"textbook": textbook_step, "fast": _fast_step}


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
