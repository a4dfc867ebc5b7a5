"""The bench's times of what the app does besides training: traces of a 1,000-character probe (free, forced,
partly forced), the scrubber's figures, lesson 2's race, and the app's cold start."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch

from gru_viz.bench.training import scratch_model, train_epochs
from gru_viz.data import preprocess
from gru_viz.explain.inference import trace_text
from gru_viz.fast import fast_trace, run_step
from gru_viz.nets.model import FREE, PRESETS, Forcing, GateForce, GRUScratch
from gru_viz.train import TrainConfig

PROBE_CHARS = 1000
TRACE_REPS = 7


def probe_window(text: str) -> str:
    """A 1,000-character window of the normalised corpus that normalises to itself (no edge spaces)."""
    for start in range(max(1, len(text) - PROBE_CHARS)):
        window = text[start : start + PROBE_CHARS]
        if preprocess(window) == window:
            return window
    return preprocess(text)[:PROBE_CHARS]


def median_ms(fn: Callable[[], object], reps: int = TRACE_REPS) -> float:
    """The median of `reps` timed calls, in milliseconds, after one untimed warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def race_timings(vocab_size: int, cfg: TrainConfig, tokens: list[int], device: torch.device,
                  reps: int) -> dict[str, float]:
    """Lesson 2's question, as the app's race answers it: tokens/s of the GRU and of its plain-RNN variant
    (Z=0, R=1) on the fast engine with the loops the app would choose, alternating, medians of `reps`."""
    rates: dict[str, list[float]] = {"gru": [], "plain_rnn": []}
    for _ in range(max(1, reps)):
        for key, forcing in (("gru", FREE), ("plain_rnn", PRESETS["plain_rnn"])):
            model = scratch_model(vocab_size, cfg, device)
            seconds, _, n = train_epochs(lambda X, Y, s, f=forcing, m=model: run_step(m, X, Y, s, cfg.lr, cfg.clip, f),
                                   lambda b, m=model: m.begin_state(b, device), tokens, cfg, cfg.epochs, device)
            rates[key].append(n / seconds)
    return {f"{key}_tokens_per_sec": statistics.median(v) for key, v in rates.items()}


PARTIAL_STEPS = (100, 600)


def partial_units(hidden: int) -> int:
    """How many units a lesson's partial forcing holds."""
    return min(32, hidden)


def partial_forcing(hidden: int) -> Forcing:
    """A lesson's forcing: R=1 on some units for part of the text (every gate forced costs no product at all)."""
    return Forcing(reset=GateForce(1.0, units=tuple(range(partial_units(hidden))), steps=PARTIAL_STEPS))


def trace_timings(model: GRUScratch, corpus, device: torch.device, loops: list[str]) -> dict[str, float]:
    """trace_text and fast_trace on each set of loops, free, forced and partly forced: milliseconds and the
    largest difference to the textbook forward."""
    probe = probe_window(corpus.text)
    ids = torch.tensor([corpus.vocab.encode(probe)], device=device)
    out: dict[str, float] = {"probe_chars": len(probe)}
    forcings = (("free", FREE), ("forced", Forcing.gates(r=1.0, z=0.0)), ("partial", partial_forcing(model.hidden)))
    for label, forcing in forcings:
        out[f"trace_text_{label}_ms"] = median_ms(lambda f=forcing: trace_text(model, corpus.vocab, probe, f))
        with torch.no_grad():
            _, _, ref = model(ids, model.begin_state(1, device), forcing, record=True)
        for b in loops:
            out[f"fast_trace_{b}_{label}_ms"] = median_ms(lambda f=forcing, b=b: fast_trace(model, ids, f, loops=b))
            fast = fast_trace(model, ids, forcing, loops=b)
            out[f"fast_trace_{b}_{label}_max_abs_diff"] = max(
                float((getattr(fast, k) - getattr(ref, k)).abs().max()) for k in ("R", "Z", "H_tilde", "H", "logits"))
    return out


def figure_timings(model: GRUScratch, corpus) -> dict[str, float]:
    """The scrubber's three figures for a 1,000-character probe (all units): build time and bytes per step."""
    from gru_viz.views import figures

    probe = probe_window(corpus.text)
    tr = trace_text(model, corpus.vocab, probe)
    t = len(probe) // 2

    def build(units=None) -> int:
        """Bytes of JSON the three figures of one step come to (what Streamlit sends at every step)."""
        return sum(len(fig.to_json()) for fig in (
            figures.gate_heatmaps(tr.R, tr.Z, tr.text, t, units),
            figures.state_mix_figure(tr.H_prev[t], tr.H_tilde[t], tr.H[t], tr.Z[t], units),
            figures.topk_figure(tr.probs[t], corpus.vocab.idx_to_token)))

    return {"figures_ms": median_ms(build), "step_kb_all_units": build() / 1e3,
            "step_kb_active_units": build(figures.units_to_show("active", tr.Z)) / 1e3}


def cold_start_seconds(timeout: float = 300) -> float:
    """The app's cold start to its first charts: a fresh Python process running the page once headless (imports,
    bundled models, first trace, the scrubber's data for the browser); NaN when it failed."""
    import subprocess
    import sys

    script = ("import time; t = time.perf_counter(); from streamlit.testing.v1 import AppTest; "
              "at = AppTest.from_file('streamlit_app.py', default_timeout=120); at.run(); "
              "assert not at.exception and at.get('bidi_component'); print(time.perf_counter() - t)")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
    env = {**os.environ, "GRU_VIZ_BUILD_EXT": "0"}
    try:
        proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                              timeout=timeout, env=env)
        return float(proc.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return float("nan")
