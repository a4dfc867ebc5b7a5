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
from gru_viz.ui.view import View, error_boundary
from gru_viz.ui.worker import TrainingWorker

POLL_SECONDS = 1.0
STATUS_POLL_SECONDS = 2.0
PREFIX = "time traveller"


def start_run(view: View, corpus: Corpus | None, config: TrainConfig | None, label: str = "GRU",
              race: bool = False) -> bool:
    """Create and start a run for this visitor; shows a message and returns False when it cannot start."""
    if corpus is None or config is None:
        st.error(st.session_state.get("_settings_error") or view.t("no_runs"))
        return False
    if active_run() is not None:
        st.warning(view.t("busy"))
        return False
    try:
        worker = TrainingWorker(corpus, config, label=label, limiter=training_slots(), prefix=PREFIX,
                                num_threads=TORCH_THREADS, race=race)
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


def _curve_chart(view: View, curves: list) -> None:
    fig = perplexity_figure(curves, title=view.t("ppl_title"), font_size=view.font, axes=view.axes)
    st.plotly_chart(fig, key="ppl_chart", config={"displaylogo": False})


def _reference_curve(view: View) -> tuple[str, list[dict]] | None:
    """The bundled model's own training history (d2l's run), as a yardstick for live runs."""
    snaps = pretrained()
    if not snaps:
        return None
    return view.t("reference_run"), snaps[max(snaps)].history


def _controls(view: View, corpus: Corpus | None, config: TrainConfig | None) -> None:
    current = runs()[-1] if runs() else None
    snap = current.snapshot() if current else None
    active = snap is not None and snap.active
    c = st.columns([1, 1, 1, 1, 1, 2.2])
    if c[0].button(view.t("start"), type="primary", disabled=active, key="btn_start", width="stretch"):
        if start_run(view, corpus, config):
            st.rerun()
    if c[1].button(view.t("pause"), disabled=not (active and snap.status == "running"), key="btn_pause",
                   width="stretch"):
        current.pause()
        st.rerun()
    resumable = current is not None and (snap.status == "paused" or current.can_continue)
    if c[2].button(view.t("resume"), disabled=not resumable, key="btn_resume", width="stretch"):
        if snap.status == "paused":
            current.resume()
        elif active_run() is None:
            current.restart()
        st.rerun()
    if c[3].button(view.t("stop"), disabled=not active, key="btn_stop", width="stretch"):
        current.stop()
        current.join(timeout=1.0)
        st.rerun()
    if c[4].button(view.t("reset"), disabled=not runs(), key="btn_reset", width="stretch"):
        for w in runs():
            w.stop()
        runs().clear()
        st.session_state.pop("_run_models", None)
        st.rerun()
    if c[5].button(view.t("quick"), disabled=active, key="btn_quick", width="stretch") and config is not None:
        if start_run(view, corpus, dataclasses.replace(config, hidden=64, epochs=30)):
            st.rerun()


def _live(view: View, corpus: Corpus | None, config: TrainConfig | None) -> None:
    with error_boundary(view, "live training view"):
        _live_body(view, corpus, config)


def _live_body(view: View, corpus: Corpus | None, config: TrainConfig | None) -> None:
    _controls(view, corpus, config)
    reference = _reference_curve(view)
    if not runs():
        st.info(view.t("no_runs"))
        if reference:
            _curve_chart(view, [reference])
        return
    current = runs()[-1]
    snap = current.snapshot()
    _status(view, snap)
    m = st.columns(4)
    last = snap.history[-1]["perplexity"] if snap.history else math.nan
    m[0].metric(view.t("perplexity"), fmt_ppl(last) if snap.history else "–")
    m[1].metric(view.t("tokens_per_sec"), f"{snap.tokens_per_sec:,.0f}" if snap.history else "–")
    m[2].metric(view.t("time_left"), fmt_seconds(snap.seconds_left) if snap.active else "–")
    m[3].metric(view.t("device_in_use"), f"{snap.device} · {current.config.engine}")
    curves = [(f"{w.run_id}: {name}", hist) for w in runs() for name, hist in w.snapshot().curves.items() if hist]
    if reference:
        curves.append(reference)
    if curves:
        _curve_chart(view, curves)
    if snap.sample:
        st.markdown(f"**{html.escape(view.t('continuation', prefix=PREFIX, epoch=snap.sample_epoch))}**")
        samples = snap.sample if isinstance(snap.sample, dict) else {snap.label: snap.sample}
        for name, text in samples.items():
            st.code(f"{name}: {text}" if len(samples) > 1 else text, language=None)
    _stop_polling_when_done(snap.active)


def _status(view: View, snap) -> None:
    """The run's state in words (queued, running, finished, diverged…) and its progress bar."""
    text = {
        "queued": view.t("status_queued", n=active_count()),
        "running": view.t("status_running"),
        "paused": view.t("status_paused"),
        "stopped": view.t("status_stopped", epoch=snap.epoch),
        "finished": view.t("status_finished", epoch=snap.epoch),
        "diverged": view.t("status_diverged", message=snap.message),
        "failed": view.t("status_failed", message=snap.message),
    }[snap.status]
    {"diverged": st.error, "failed": st.error, "queued": st.warning}.get(snap.status, st.caption)(text)
    st.progress(snap.epoch / snap.epochs, text=view.t("epoch_of", epoch=snap.epoch, epochs=snap.epochs))


def _stop_polling_when_done(active: bool) -> None:
    if st.session_state.get("_polling") and not active:
        st.session_state["_polling"] = False
        st.rerun()  # a full rerun stops the polling and refreshes the model chooser


def _sidebar_status(view: View) -> None:
    with error_boundary(view, "training status"):
        current = runs()[-1]
        snap = current.snapshot()
        last = f" · {view.t('perplexity')} {fmt_ppl(snap.history[-1]['perplexity'])}" if snap.history else ""
        st.markdown(f"**{html.escape(view.t('run_status', id=current.run_id, label=snap.label))}**{last}")
        _status(view, snap)
        _stop_polling_when_done(snap.active)


def sidebar_status(view: View, box) -> None:
    """While another tab is open: this visitor's latest run in a few lines at the top of the sidebar, polled
    (less often than the train tab, and with far less to draw) while it trains."""
    if not runs():
        return
    polling = active_run() is not None
    st.session_state["_polling"] = polling
    with box:
        st.fragment(run_every=STATUS_POLL_SECONDS if polling else None)(_sidebar_status)(view)


def render(view: View, corpus: Corpus | None, config: TrainConfig | None, error: str) -> None:
    st.session_state["_settings_error"] = error
    polling = active_run() is not None
    st.session_state["_polling"] = polling
    st.fragment(run_every=POLL_SECONDS if polling else None)(_live)(view, corpus, config)
