"""Tab ③: start, pause, resume, stop and reset runs; a live view polled with st.fragment(run_every=…)."""

from __future__ import annotations

import dataclasses
import html
import math
import time
from collections import Counter

import streamlit as st

from gru_viz.data import OFFLINE_NAME, TM_NAME, Corpus, visible_char
from gru_viz.serve.worker import RunProgress, TrainingWorker
from gru_viz.train import EpochReport, RunStatus
from gru_viz.train.race import VARIANTS
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Training, start_run
from gru_viz.ui.chrome import error_boundary
from gru_viz.ui.context import PageContext
from gru_viz.ui.state import RUN_SECONDS, active_run, pretrained, runs, training_slots
from gru_viz.ui.view import View, md_escape
from gru_viz.views.figures import perplexity_figure

POLL_SECONDS = 1.0
STATUS_POLL_SECONDS = 2.0


def variant_name(view: View, name: str, race: bool) -> str:
    """A race model's name (its id in race.VARIANTS) in the page's language; another run's label as it is."""
    return view.t(f"variant_{name}") if race and name in VARIANTS else name


def corpus_label(view: View, name: str) -> str:
    """A run's corpus as the sidebar names it (the bundled ones in the page's language; own text escaped)."""
    return {TM_NAME: view.t("corpus_tm"), OFFLINE_NAME: view.t("corpus_offline")}.get(name) or md_escape(name)


def repeat_note(view: View, sample: dict[str, str], corpus: Corpus, epoch: int, generated: int = 50) -> str:
    """Why a continuation is one character over and over (an early model's spaces looked like nothing at all):
    it says that the character is the training text's most common one only when it is."""
    repeated = {text[-generated:][0] for text in sample.values()
                if len(text) >= generated and len(set(text[-generated:])) == 1}
    if len(repeated) != 1:
        return ""
    ch = repeated.pop()
    common = corpus.vocab.idx_to_token[Counter(corpus.tokens).most_common(1)[0][0]] if corpus.tokens else None
    key = "continuation_common" if ch == common else "continuation_repeats"
    return view.t(key, ch=html.escape(visible_char(ch)), epoch=epoch)


def fmt_ppl(value: float) -> str:
    return "∞" if not math.isfinite(value) or value > 1e6 else f"{value:.3f}"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _curve_chart(view: View, curves: list[tuple[str, list[EpochReport]]], reference: list[EpochReport] | None,
                 epochs: int | None = None) -> None:
    """The runs' curves, and d2l's reference run dashed behind them, over the epochs of the runs shown (the
    reference is cut there: drawn to 500 epochs, a 20-epoch run would be a smear at the left edge)."""
    fig = perplexity_figure([(label, [r.epoch for r in h], [r.perplexity for r in h]) for label, h in curves],
                            reference=None if reference is None else (
                                view.t("reference_run"), [r.epoch for r in reference],
                                [r.perplexity for r in reference]),
                            max_epoch=epochs, title=view.t("ppl_title"), font_size=view.font, axes=view.axes)
    st.plotly_chart(fig, key="ppl_chart", config=view.chart_config)


@st.cache_resource(show_spinner=False)
def _reference_history() -> list[EpochReport] | None:
    """The bundled model's own training history (d2l's run), as a yardstick for live runs; read once per server,
    not at every one-second poll of every visitor watching a run."""
    snaps = pretrained()
    if not snaps:
        return None
    return [EpochReport.from_dict(d) for d in snaps[max(snaps)].history]


def smoothed_rate(history: list[EpochReport], window: int = 5) -> float:
    """Tokens per second over the last `window` epochs together (reports count tokens and seconds from the
    run's start): one epoch's own figure jumps with every pause of a shared CPU."""
    if not history:
        return 0.0
    last = history[-1]
    first = history[-window - 1] if len(history) > window else None
    tokens = last.tokens - (first.tokens if first else 0)
    seconds = last.elapsed - (first.elapsed if first else 0.0)
    return tokens / seconds if seconds > 0 else last.tokens_per_sec


def _controls(view: View, training: Training) -> None:
    current = runs()[-1] if runs() else None
    snap = current.progress() if current else None
    active = snap is not None and snap.active
    # a row that wraps: on a tablet (1024x768, sidebar open) fixed columns cut "Resume" and the quick run's label
    row = st.container(horizontal=True)
    if row.button(view.t("start"), type="primary", disabled=active, key="btn_start", width="content"):
        if start_run(view, training):
            st.rerun()
    if row.button(view.t("pause"), disabled=not (active and snap.status == RunStatus.RUNNING), key="btn_pause",
                  width="content"):
        current.pause()
        st.rerun()
    resumable = current is not None and (snap.status == RunStatus.PAUSED or current.can_continue)
    if row.button(view.t("resume"), disabled=not resumable, key="btn_resume", width="content"):
        if snap.status == RunStatus.PAUSED:
            current.resume()
        elif active_run() is None:
            current.restart()
        st.rerun()
    if row.button(view.t("stop"), disabled=not active, key="btn_stop", width="content"):
        current.stop()
        current.join(timeout=1.0)
        st.rerun()
    if row.button(view.t("reset"), disabled=not runs(), key="btn_reset", width="content"):
        for w in runs():
            w.stop()
        runs().clear()
        ps.get("_lru").drop("replaced")  # the runs' models and results about them: not asked for again
        st.rerun()
    config = training.config
    if row.button(view.t("quick"), disabled=active, key="btn_quick", width="content") and config is not None:
        if start_run(view, training, dataclasses.replace(config, hidden=64, epochs=30)):
            st.rerun()
    _run_budget(view)


def _run_budget(view: View) -> None:
    """What one run may take on this server, so that a visitor knows before starting (issue 31, item 5)."""
    slots = training_slots()
    budget = slots.memory_budget // 2**20 if slots.memory_budget is not None else None
    if RUN_SECONDS is None and budget is None:
        return
    parts = [view.t("budget_slots", max=slots.runs)]
    if RUN_SECONDS is not None:
        parts.append(view.t("budget_minutes", minutes=f"{RUN_SECONDS / 60:g}"))
    if budget is not None:
        parts.append(view.t("budget_memory", mb=budget))
    st.caption(" ".join(parts))


def _live(view: View, training: Training) -> None:
    with error_boundary(view, "live training view"):
        _live_body(view, training)


def _live_body(view: View, training: Training) -> None:
    _touch()
    _controls(view, training)
    reference = _reference_history()
    if not runs():
        st.info(view.ts("no_runs"))
        if reference:
            _curve_chart(view, [], reference)
        return
    current = runs()[-1]
    snap = current.progress()
    _status(view, current, snap)
    m = st.columns(4)
    last = snap.history[-1].perplexity if snap.history else math.nan
    m[0].metric(view.t("perplexity"), fmt_ppl(last) if snap.history else "–")
    m[1].metric(view.t("tokens_per_sec"), f"{smoothed_rate(snap.history):,.0f}" if snap.history else "–")
    m[2].metric(view.t("time_left"), fmt_seconds(snap.seconds_left) if snap.active else "–")
    m[3].metric(view.t("device_in_use"), f"{snap.device} · {view.t('engine_short_' + current.config.engine)}")
    curves = [(f"{w.number}: {variant_name(view, name, w.race)}", hist) for w in runs()
              for name, hist in w.progress().curves.items() if hist]
    # the bundled curve is d2l's run on the book: beside a run on other text (offline, own text, every character
    # kept) it compares nothing, so it is left out and the page says on what each run was trained
    comparable = all(w.corpus.name == TM_NAME and w.corpus.vocab.mode == "d2l" for w in runs())
    _curve_chart(view, curves, reference if comparable else None, epochs=max(w.config.epochs for w in runs()))
    if reference and not comparable:
        st.caption(view.t("reference_left_out", runs="; ".join(
            view.t("run_trained_on", n=w.number, corpus=corpus_label(view, w.corpus.name),
                   tokens=view.t(f"tokens_{w.corpus.vocab.mode}")) for w in runs())))
    if len(snap.curves) > 1:  # a race: lesson 2 asks which model is faster per epoch
        rates = " · ".join(f"{md_escape(variant_name(view, name, current.race))} {smoothed_rate(hist):,.0f}"
                           for name, hist in snap.curves.items() if hist)
        st.caption(view.t("race_rates", rates=rates))
    if snap.sample:
        st.markdown(f"**{html.escape(view.t('continuation', prefix=current.prefix, epoch=snap.sample_epoch))}**")
        for name, text in snap.sample.items():
            st.code(f"{variant_name(view, name, current.race)}: {text}" if len(snap.sample) > 1 else text,
                    language=None)
        note = repeat_note(view, snap.sample, current.corpus, snap.sample_epoch)
        if note:
            st.caption(note)
    _stop_polling_when_done(snap.active)


def _status(view: View, worker: TrainingWorker, snap: RunProgress) -> None:
    """The run's state in words (queued, running, finished, diverged…), why it stopped, and its progress bar."""
    S = RunStatus
    slots = training_slots()
    queued = view.t("status_queued", pos=max(worker.queue_position(), 1), n=slots.training, max=slots.runs)
    reason = md_escape(snap.message)
    text = {
        S.READY: queued,
        S.QUEUED: queued,
        S.RUNNING: view.t("status_running"),
        S.PAUSED: view.t("status_paused"),
        S.STOPPED: view.t("status_stopped_why", epoch=snap.epoch, reason=reason) if reason
        else view.t("status_stopped", epoch=snap.epoch),
        S.FINISHED: view.t("status_finished", epoch=snap.epoch),
        S.DIVERGED: view.t("status_diverged", message=reason),
        S.FAILED: view.t("status_failed", message=reason),
    }[snap.status]
    show = {S.DIVERGED: st.error, S.FAILED: st.error, S.QUEUED: st.warning, S.READY: st.warning}
    if snap.status == S.STOPPED and reason:
        show[S.STOPPED] = st.warning
    show.get(snap.status, st.caption)(text)
    if snap.dropped:  # its models were freed to make room for other runs (gru_viz.serve.kept)
        st.warning(view.t(f"run_dropped_{snap.dropped}", n=worker.number))
    st.progress(snap.epoch / snap.epochs, text=view.t("epoch_of", epoch=snap.epoch, epochs=snap.epochs))


def _stop_polling_when_done(active: bool) -> None:
    if ps.get("_polling") and not active:
        ps.put("_polling", False)
        st.rerun()  # a full rerun stops the polling and refreshes the model chooser


def _touch() -> None:
    """This page is watching its runs: every poll counts, so the watchdog never stops a run someone watches."""
    now = time.monotonic()
    for w in runs():
        w.last_seen = now


def _sidebar_status(view: View) -> None:
    with error_boundary(view, "training status"):
        _touch()
        current = runs()[-1]
        snap = current.progress()
        last = f" · {view.t('perplexity')} {fmt_ppl(snap.history[-1].perplexity)}" if snap.history else ""
        st.markdown(f"**{html.escape(view.t('run_status', n=current.number, label=snap.label))}**{last}")
        _status(view, current, snap)
        _stop_polling_when_done(snap.active)


def sidebar_status(view: View, box) -> None:
    """While another tab is open: this visitor's latest run in a few lines at the top of the sidebar, polled
    (less often than the train tab, and with far less to draw) while it trains."""
    if not runs():
        return
    polling = active_run() is not None
    ps.put("_polling", polling)
    with box:
        st.fragment(run_every=STATUS_POLL_SECONDS if polling else None)(_sidebar_status)(view)


def render(ctx: PageContext) -> None:
    view, training = ctx.view, ctx.training
    polling = active_run() is not None
    ps.put("_polling", polling)
    st.fragment(run_every=POLL_SECONDS if polling else None)(_live)(view, training)
