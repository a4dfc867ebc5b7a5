"""A run's settings (d2l's defaults for the chapter's run, each checked with a message for a person) and the
device it trains on."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

from gru_viz.nets.model import FREE, Forcing, GateForce


class ConfigError(ValueError):
    """Settings that cannot work; the message is meant for a person."""


LIMITS = {"hidden": (1, 4096), "epochs": (1, 100_000), "batch_size": (1, 4096), "num_steps": (1, 1000)}

ENGINE_NAMES = ("textbook", "fast")  # trainer.ENGINES holds each one's step


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
        if self.engine not in ENGINE_NAMES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINE_NAMES)}, got {self.engine!r}")
        if not isinstance(self.forcing, Forcing):
            raise ConfigError("forcing must be a Forcing")
        try:
            self.forcing.check(self.hidden)
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
