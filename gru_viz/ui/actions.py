"""What several tabs share: the forcing set up, the model chosen, starting a run (the probe text: probe.py).

Tabs import this and never each other; each gets what it needs in the PageContext app.py builds (context.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

from gru_viz.data import Corpus, Vocab
from gru_viz.explain.inference import corpus_prefix
from gru_viz.nets.model import PRESETS, Forcing, ForcingError, GateForce, GRUScratch
from gru_viz.serve.budget import MB, settings_bytes
from gru_viz.serve.worker import TrainingWorker
from gru_viz.train import ConfigError, TrainConfig
from gru_viz.train.race import VARIANTS
from gru_viz.ui import page_state as ps
from gru_viz.ui.state import (
    RUN_SECONDS,
    TORCH_THREADS,
    active_run,
    cached,
    client_network,
    pretrained,
    pretrained_raw,
    runs,
    training_slots,
    visitor_id,
    visitor_run,
)
from gru_viz.ui.view import View, md_escape

T = TypeVar("T")


@dataclass(frozen=True)
class Inspected:
    """The model the chooser picked: `ident` names it in caches, `name` in downloaded files."""

    model: GRUScratch
    vocab: Vocab
    ident: tuple
    name: str
    own_text: str = dataclasses.field(default="", repr=False)  # a run's corpus (normalised): its default probe

    @property
    def shared(self) -> bool:
        """A bundled model: read-only and the same for every visitor, so its results can be shared."""
        return self.ident[0] in ("pre", "raw")

    def cached(self, name: str, key: tuple, compute: Callable[[], T], size: int = 8) -> T:
        """A result about this model (a trace, a perplexity…), computed once per key: for everyone when the
        model is a bundled one, else in this visitor's session."""
        return cached(name, (self.ident, *key), compute, shared=self.shared, size=size)


@dataclass(frozen=True)
class Training:
    """The sidebar's outcome: the corpus and settings a run would use, or why there are none."""

    corpus: Corpus | None
    config: TrainConfig | None
    error: str  # escaped for Markdown


# --- the forcing ------------------------------------------------------------------------------


def parse_units(text: str, hidden: int) -> tuple[int, ...] | None:
    """'0-31, 100' -> (0, …, 31, 100); empty -> None (all units). Raises ValueError with a readable message."""
    text = text.strip()
    if not text:
        return None
    units: set[int] = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"'{part}' is not a unit number or a range like 0-31") from None
        if not (0 <= a <= b < hidden):
            raise ValueError(f"'{part}' is outside 0-{hidden - 1}")
        units.update(range(a, b + 1))
    return tuple(sorted(units))


def current_forcing(hidden: int) -> tuple[Forcing, str]:
    """The forcing the visitor set up, the same for every tab, and the reason when it cannot be applied."""
    preset = ps.get("preset")
    strength = float(ps.get("f_strength"))
    if preset != "custom":
        f = PRESETS.get(preset, PRESETS["free"])
        return (Forcing(f.reset, f.update, strength=strength) if f.active else f), ""
    try:
        units = parse_units(str(ps.get("f_units")), hidden)
    except ValueError as exc:
        return PRESETS["free"], str(exc)
    steps = ps.get("f_steps") if ps.get("f_steps_on") else None
    if steps is not None:
        steps = (steps[0], steps[1] + 1)  # the slider is inclusive, GateForce ranges are half-open
    try:
        r = GateForce(float(ps.get("fr_val")), units, steps) if ps.get("fr_on") else GateForce()
        z = GateForce(float(ps.get("fz_val")), units, steps) if ps.get("fz_on") else GateForce()
    except ForcingError as exc:
        return PRESETS["free"], str(exc)
    return Forcing(reset=r, update=z, strength=strength), ""


def describe_forcing(view: View, forcing: Forcing) -> str:
    """The forcing in words of the page's language: "R=1, Z=0", "Z=1 on 10 units for steps 5-20", "free"."""
    parts = []
    for name, g in (("R", forcing.reset), ("Z", forcing.update)):
        if g.active:
            where = "" if g.units is None else view.t("forcing_units", n=len(g.units))
            when = "" if g.steps is None else view.t("forcing_steps", a=g.steps[0], b=g.steps[1] - 1)
            parts.append(f"{name}={g.value:g}{where}{when}")
    if parts and not forcing.full:
        parts.append(view.t("forcing_strength", s=f"{forcing.strength:g}"))
    return ", ".join(parts) or view.t("forcing_free")


# --- the model chooser ---------------------------------------------------------------------------


def model_options(view: View) -> dict[str, str]:
    """Chooser key -> label: the bundled snapshots, each run's kept epochs (its latest first), an upload."""
    # a projector's chooser sits in the title row, about 30 characters wide: its labels are the short ones
    short = "_short" if view.projector else ""
    opts = {f"pre:{e}": view.t(f"pretrained{short}", epoch=e) for e in sorted(pretrained(), reverse=True)}
    opts.update({f"raw:{e}": view.t(f"pretrained_raw{short}", epoch=e) for e in sorted(pretrained_raw(),
                                                                                    reverse=True)})
    for w in reversed(runs()):
        snap = w.progress()
        if snap.epoch and not snap.dropped:  # a dropped run's models were freed (serve.kept)
            opts[f"run:{w.run_id}:latest"] = view.t(f"run_latest{short}", n=w.number, label=snap.label,
                                                    epoch=snap.epoch)
            for e in reversed(snap.snapshot_epochs):
                if e != snap.epoch:  # the latest epoch is already listed as "latest"
                    opts[f"run:{w.run_id}:{e}"] = view.t(f"run_epoch{short}", n=w.number, label=snap.label, epoch=e)
    uploaded = ps.get("uploaded")
    if uploaded:
        opts["upload"] = view.t("uploaded", name=uploaded[0])  # an option is plain text
    return opts


def resolve_model(key: str) -> Inspected | None:
    """The model, vocabulary and cache identity for a chooser key."""
    kind, _, rest = key.partition(":")
    name = "gru_" + key.replace(":", "_")
    if kind in ("pre", "raw"):
        ckpt = (pretrained() if kind == "pre" else pretrained_raw())[int(rest)]
        return Inspected(ckpt.model, ckpt.vocab, (kind, int(rest)), name)
    if kind == "upload" and ps.get("uploaded"):
        _, ckpt = ps.get("uploaded")
        return Inspected(ckpt.model, ckpt.vocab, ("upload", ps.get("uploaded_id")), name)
    if kind == "run":
        run_id, _, which = rest.partition(":")
        for w in runs():
            if str(w.run_id) == run_id and not w.progress().dropped:
                epoch = None if which == "latest" else int(which)
                ident_epoch = w.progress().epoch if epoch is None else epoch
                # one materialised run model per session, counted with its results (ui.session_kept)
                model = cached("run_model", (w.run_id, ident_epoch),
                               lambda w=w, e=epoch: w.model(e).requires_grad_(False), size=1)
                return Inspected(model, w.corpus.vocab, ("run", w.run_id, ident_epoch), name, own_text=w.corpus.text)
    return None


# --- starting a run ---------------------------------------------------------------------------------------


def run_bytes(config: TrainConfig, vocab_size: int, tokens: int, race: bool = False) -> int:
    """The run's estimated peak memory (gru_viz.serve.budget, measured), for the loops it would run here."""
    from gru_viz.fast import choose_loops
    from gru_viz.train import resolve_device

    loops = choose_loops(resolve_device(config.device).type, "float32", vocab_size, config.batch_size, config.hidden,
                         threads=TORCH_THREADS, steps=config.num_steps, calibrate_now=False).loops if (
        config.engine == "fast") else None
    return settings_bytes(config, vocab_size, tokens, variants=len(VARIANTS) if race else 1, loops=loops)


def what_fits(config: TrainConfig, vocab_size: int, tokens: int, race: bool, budget: int) -> dict[str, object]:
    """A nearby setting that fits the budget, said as the sidebar says it: the fast code, then a smaller batch,
    then fewer time steps, then fewer hidden units."""
    candidates = [dataclasses.replace(config, engine="fast")]
    for field, floor in (("batch_size", 1), ("num_steps", 1), ("hidden", 1)):
        c = candidates[-1]
        while getattr(c, field) > floor and run_bytes(c, vocab_size, tokens, race) > budget:
            c = dataclasses.replace(c, **{field: max(floor, getattr(c, field) // 2)})
        candidates.append(c)
    fit = next((c for c in candidates if run_bytes(c, vocab_size, tokens, race) <= budget), candidates[-1])
    return {name: getattr(fit, name) for name in ("engine", "batch_size", "num_steps", "hidden")
            if getattr(fit, name) != getattr(config, name)}


def start_run(view: View, training: Training, config: TrainConfig | None = None, label: str = "GRU",
              race: bool = False) -> bool:
    """Create and start a run for this visitor (`config` defaults to the sidebar's); shows a message and
    returns False when it cannot start."""
    config = config or training.config
    if training.corpus is None or config is None:
        st.error(training.error or view.ts("no_runs"))
        return False
    if active_run() is not None:
        st.warning(view.t("busy"))
        return False
    visitor = visitor_id()
    if visitor_run(visitor) is not None:  # a run started from another tab of the same browser
        st.warning(view.t("busy_elsewhere"))
        return False
    slots, vocab_size, tokens = training_slots(), len(training.corpus.vocab), len(training.corpus.tokens)
    need = run_bytes(config, vocab_size, tokens, race)
    if not slots.fits_alone(need):
        fits = what_fits(config, vocab_size, tokens, race, slots.memory_budget)
        words = [view.t(f"engine_short_{v}") if k == "engine" else f"{view.t(k)} {v}" for k, v in fits.items()]
        st.error(view.t("too_big", need=need // MB, have=slots.memory_budget // MB, fits=", ".join(words)))
        return False
    try:
        worker = TrainingWorker(training.corpus, config, label=label, limiter=slots,
                                prefix=corpus_prefix(training.corpus), num_threads=TORCH_THREADS, race=race,
                                number=len(runs()) + 1, time_limit=RUN_SECONDS, visitor=visitor, memory=need,
                                network=client_network())
    except (ConfigError, ValueError) as exc:
        st.error(md_escape(str(exc)))
        return False
    runs().append(worker)
    worker.start()
    return True
