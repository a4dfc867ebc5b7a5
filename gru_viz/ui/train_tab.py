"""Tab ①: start, pause, resume, stop and reset runs; a live view polled with st.fragment(run_every=…)."""

from __future__ import annotations

import dataclasses
import html
import math

import streamlit as st

from gru_viz.data import Corpus
from gru_viz.figures import perplexity_figure
from gru_viz.train import ConfigError, TrainConfig
from gru_viz.ui.state import TORCH_THREADS, active_count, active_run, pretrained, runs, training_slots
from gru_viz.ui.strings import tr
from gru_viz.ui.worker import TrainingWorker

POLL_SECONDS = 1.0
PREFIX = "time traveller"


def start_run(lang: str, corpus: Corpus | None, config: TrainConfig | None, label: str = "GRU") -> bool:
    """Create and start a run for this visitor; shows a message and returns False when it cannot start."""
    if corpus is None or config is None:
        st.error(st.session_state.get("_settings_error") or tr("no_runs", lang))
        return False
    if active_run() is not None:
        st.warning(tr("busy", lang))
        return False
    try:
        worker = TrainingWorker(corpus, config, label=label, limiter=training_slots(), prefix=PREFIX,
                                num_threads=TORCH_THREADS)
    except (ConfigError, ValueError) as exc:
        st.error(str(exc))
        return False
    runs().append(worker)
    worker.start()
    return True


def fmt_ppl(value: float) -> str:
    return "∞" if not math.isfinite(value) or value > 1e6 else f"{value:.3f}"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _reference_curve(lang: str) -> tuple[str, list[dict]] | None:
    """The bundled model's own training history (d2l's run), as a yardstick for live runs."""
    snaps = pretrained()
    if not snaps:
        return None
    return tr("reference_run", lang), snaps[max(snaps)].history


def _controls(lang: str, corpus: Corpus | None, config: TrainConfig | None) -> None:
    current = runs()[-1] if runs() else None
    snap = current.snapshot() if current else None
    active = snap is not None and snap.active
    c = st.columns([1, 1, 1, 1, 1, 2.2])
    if c[0].button(tr("start", lang), type="primary", disabled=active, key="btn_start", width="stretch"):
        if start_run(lang, corpus, config):
            st.rerun()
    if c[1].button(tr("pause", lang), disabled=not (active and snap.status == "running"), key="btn_pause",
                   width="stretch"):
        current.pause()
        st.rerun()
    if c[2].button(tr("resume", lang), disabled=not (active and snap.status == "paused"), key="btn_resume",
                   width="stretch"):
        current.resume()
        st.rerun()
    if c[3].button(tr("stop", lang), disabled=not active, key="btn_stop", width="stretch"):
        current.stop()
        current.join(timeout=1.0)
        st.rerun()
    if c[4].button(tr("reset", lang), disabled=not runs(), key="btn_reset", width="stretch"):
        for w in runs():
            w.stop()
        runs().clear()
        st.session_state.pop("_run_models", None)
        st.rerun()
    if c[5].button(tr("quick", lang), disabled=active, key="btn_quick", width="stretch") and config is not None:
        if start_run(lang, corpus, dataclasses.replace(config, hidden=64, epochs=30)):
            st.rerun()


def _live(lang: str, corpus: Corpus | None, config: TrainConfig | None) -> None:
    _controls(lang, corpus, config)
    reference = _reference_curve(lang)
    if not runs():
        st.info(tr("no_runs", lang))
        if reference:
            st.plotly_chart(perplexity_figure([reference], title=tr("ppl_title", lang)), key="ppl_chart",
                            config={"displaylogo": False})
        return
    current = runs()[-1]
    snap = current.snapshot()
    status_text = {
        "queued": tr("status_queued", lang, n=active_count()),
        "running": tr("status_running", lang),
        "paused": tr("status_paused", lang),
        "stopped": tr("status_stopped", lang, epoch=snap.epoch),
        "finished": tr("status_finished", lang, epoch=snap.epoch),
        "diverged": tr("status_diverged", lang, message=snap.message),
        "failed": tr("status_failed", lang, message=snap.message),
    }[snap.status]
    {"diverged": st.error, "failed": st.error, "queued": st.warning}.get(snap.status, st.caption)(status_text)
    st.progress(snap.epoch / snap.epochs, text=tr("epoch_of", lang, epoch=snap.epoch, epochs=snap.epochs))
    m = st.columns(4)
    last = snap.history[-1]["perplexity"] if snap.history else math.nan
    m[0].metric(tr("perplexity", lang), fmt_ppl(last) if snap.history else "–")
    m[1].metric(tr("tokens_per_sec", lang), f"{snap.tokens_per_sec:,.0f}" if snap.history else "–")
    m[2].metric(tr("time_left", lang), fmt_seconds(snap.seconds_left) if snap.active else "–")
    m[3].metric(tr("device_in_use", lang), f"{snap.device} · {current.config.engine}")
    curves = [(f"{w.run_id}: {w.label}", w.snapshot().history) for w in runs() if w.snapshot().history]
    if reference:
        curves.append(reference)
    if curves:
        st.plotly_chart(perplexity_figure(curves, title=tr("ppl_title", lang)), key="ppl_chart",
                        config={"displaylogo": False})
    if snap.sample:
        st.markdown(f"**{html.escape(tr('continuation', lang, prefix=PREFIX, epoch=snap.sample_epoch))}**")
        st.code(snap.sample, language=None)
    if st.session_state.get("_polling") and not snap.active:
        st.session_state["_polling"] = False
        st.rerun()  # a full rerun stops the polling and refreshes the model chooser


def render(lang: str, corpus: Corpus | None, config: TrainConfig | None, error: str) -> None:
    st.session_state["_settings_error"] = error
    polling = active_run() is not None
    st.session_state["_polling"] = polling
    st.fragment(run_every=POLL_SECONDS if polling else None)(_live)(lang, corpus, config)
