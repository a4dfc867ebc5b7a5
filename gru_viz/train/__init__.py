"""Training: a run's settings (config), d2l's textbook step (textbook), what a run reports (report) and the
Trainer that runs epochs through an engine's step (trainer). Every public name is importable from gru_viz.train."""

from gru_viz.train.config import ENGINE_NAMES, LIMITS, ConfigError, TrainConfig, available_devices, resolve_device
from gru_viz.train.report import EpochReport, RunStatus, history_dicts
from gru_viz.train.textbook import clipped_sgd, grad_clipping, perplexity, textbook_step
from gru_viz.train.trainer import (
    DEFAULT_SNAPSHOT_EPOCHS,
    ENGINES,
    StepFn,
    Trainer,
    TrainingDiverged,
    snapshot_epochs,
)

__all__ = [
    "DEFAULT_SNAPSHOT_EPOCHS", "ENGINES", "ENGINE_NAMES", "LIMITS", "ConfigError", "EpochReport", "RunStatus",
    "StepFn", "TrainConfig", "Trainer", "TrainingDiverged", "available_devices", "clipped_sgd", "grad_clipping",
    "history_dicts", "perplexity", "resolve_device", "snapshot_epochs", "textbook_step",
]
