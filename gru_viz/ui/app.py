"""The page: sidebar settings, the model chooser, and four tabs of which only the open one is drawn."""

from __future__ import annotations

import dataclasses
import logging

import streamlit as st
import torch

from gru_viz.checkpoint import CheckpointError, load_checkpoint
from gru_viz.data import Corpus, CorpusError, Vocab, decode_text, make_corpus
from gru_viz.model import GRUScratch
from gru_viz.train import TrainConfig
from gru_viz.ui import force_tab, gates_tab, scrub_tab, train_tab
from gru_viz.ui.state import init_session, offline_corpus, pretrained, runs, timemachine
from gru_viz.ui.view import (
    TABS,
    View,
    choice,
    error_boundary,
    header_controls,
    kept_values,
    md_escape,
    page_tabs,
    share_box,
    sync_url,
)

log = logging.getLogger(__name__)

# Per-visitor caps: a public server shares 2 cores and 2.7 GB between everyone.
CAPS = {"hidden": 512, "epochs": 1000, "batch_size": 256, "num_steps": 200, "max_tokens": 200_000}
MAX_TEXT_BYTES = 2_000_000
MAX_CKPT_MB = 16


Q = {"bind": "query-params"}  # the widget's value lives in the URL, so a link reopens the same view


def _training_corpus(view: View, source: str, max_tokens: int) -> tuple[Corpus | None, str]:
    """The corpus chosen in the sidebar, or (None, a readable reason)."""
    sb = st.sidebar
    try:
        if source == "tm":
            base, error = timemachine()
            if base is None:
                return None, error
            return dataclasses.replace(base, tokens=base.tokens[:max_tokens]), ""
        if source == "offline":
            base = offline_corpus()
            return dataclasses.replace(base, tokens=base.tokens[:max_tokens]), ""
        if source == "upload":
            up = sb.file_uploader(view.t("upload_txt"), type=["txt"], key="upload_txt")
            if up is None:
                return None, ""
            if up.size > MAX_TEXT_BYTES:
                return None, f"{up.name}: larger than {MAX_TEXT_BYTES // 1_000_000} MB"
            return make_corpus(decode_text(up.getvalue(), up.name), up.name, max_tokens), ""
        raw = sb.text_area(view.t("paste_here"), key="paste_text", height=150, max_chars=MAX_TEXT_BYTES)
        return (make_corpus(raw, "pasted text", max_tokens), "") if raw.strip() else (None, "")
    except CorpusError as exc:
        return None, str(exc)


def sidebar(view: View) -> tuple[Corpus | None, TrainConfig | None, str]:
    """Training settings and corpus; returns (corpus, config, error message)."""
    sb = st.sidebar
    sb.header(view.t("settings"))
    choices = {k: view.t(f"corpus_{k}") for k in ("tm", "offline", "upload", "paste")}
    source = choice(sb.radio, view.t("corpus"), list(choices), "corpus_source", view, choices.get)
    d = TrainConfig()
    max_tokens = sb.number_input(view.t("max_tokens"), 100, CAPS["max_tokens"], d.max_tokens, step=1000,
                                 key="max_tokens", **Q)
    corpus, error = _training_corpus(view, source, int(max_tokens))
    if corpus is not None:
        sb.caption(view.t("corpus_info", name=md_escape(corpus.name), tokens=len(corpus.tokens),
                          vocab=len(corpus.vocab)))
    elif error:
        sb.error(md_escape(error))

    c1, c2 = sb.columns(2)
    hidden = c1.number_input(view.t("hidden"), 1, CAPS["hidden"], d.hidden, key="hidden", **Q)
    epochs = c2.number_input(view.t("epochs"), 1, CAPS["epochs"], d.epochs, key="epochs", **Q)
    lr = c1.number_input(view.t("lr"), 0.001, 100.0, d.lr, format="%.3f", key="lr", **Q)
    clip = c2.number_input(view.t("clip"), 0.01, 100.0, d.clip, format="%.2f", key="clip", **Q)
    batch = c1.number_input(view.t("batch_size"), 1, CAPS["batch_size"], d.batch_size, key="batch_size", **Q)
    steps = c2.number_input(view.t("num_steps"), 1, CAPS["num_steps"], d.num_steps, key="num_steps", **Q)
    seed = c1.number_input(view.t("seed"), 0, 2**31 - 1, d.seed, key="seed", **Q)
    device = c2.selectbox(view.t("device"), available_devices(), key="device", **Q)
    sampling = choice(sb.radio, view.t("sampling"), ["sequential", "random"], "sampling", view, view.t,
                      horizontal=True)
    engine = choice(sb.radio, view.t("engine_choice"), ["fast", "textbook"], "engine", view,
                    lambda k: view.t(f"engine_{k}", backend=fast_backend_label(view)))
    config = None
    try:
        config = TrainConfig(hidden=int(hidden), lr=float(lr), epochs=int(epochs), batch_size=int(batch),
                             num_steps=int(steps), clip=float(clip), max_tokens=int(max_tokens),
                             random_iter=sampling == "random", seed=int(seed), device=device, engine=engine)
    except ValueError as exc:
        error = error or str(exc)
    sb.divider()
    checkpoint_upload(view)
    return corpus, config, error


def fast_backend_label(view: View) -> str:
    """Which code the fast path runs here: the compiled C++ kernel, or its pure-PyTorch fallback."""
    from gru_viz.fast import fast_backend

    return view.t("backend_cpp") if fast_backend() == "cpp" else view.t("backend_torch")


def available_devices() -> list[str]:
    """Only devices this server has: choosing a missing GPU is prevented rather than reported."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def checkpoint_upload(view: View) -> None:
    up = st.sidebar.file_uploader(view.t("upload_ckpt"), type=["safetensors"], key="upload_ckpt",
                                  max_upload_size=MAX_CKPT_MB)
    ss = st.session_state
    if up is None:
        return
    if ss.get("uploaded_id") == up.file_id:
        if ss.get("uploaded_error"):
            st.sidebar.error(ss.uploaded_error)
        return
    ss.uploaded_id, ss.uploaded_error = up.file_id, ""
    try:
        ckpt = load_checkpoint(up.getvalue(), up.name)
        ckpt.model.requires_grad_(False)
        ss.uploaded = (up.name, ckpt)
        ss.inspect = "upload"
        st.sidebar.success(view.t("ckpt_loaded", name=md_escape(up.name), hidden=ckpt.model.hidden,
                                  vocab=len(ckpt.vocab)))
    except CheckpointError as exc:
        ss.uploaded_error = md_escape(str(exc))
        st.sidebar.error(ss.uploaded_error)


def model_options(view: View) -> dict[str, str]:
    opts = {f"pre:{e}": view.t("pretrained", epoch=e) for e in sorted(pretrained(), reverse=True)}
    for w in reversed(runs()):
        snap = w.snapshot()
        if snap.epoch:
            opts[f"run:{w.run_id}:latest"] = view.t("run_latest", id=w.run_id, label=snap.label, epoch=snap.epoch)
            for e in reversed(snap.snapshot_epochs):
                opts[f"run:{w.run_id}:{e}"] = view.t("run_epoch", id=w.run_id, label=snap.label, epoch=e)
    if st.session_state.get("uploaded"):
        opts["upload"] = view.t("uploaded", name=st.session_state.uploaded[0])
    return opts


def resolve_model(key: str) -> tuple[GRUScratch, Vocab, tuple] | None:
    """(model, vocab, identity for caches) for a chooser key."""
    kind, _, rest = key.partition(":")
    if kind == "pre":
        ckpt = pretrained()[int(rest)]
        return ckpt.model, ckpt.vocab, ("pre", int(rest))
    if kind == "upload" and st.session_state.get("uploaded"):
        name, ckpt = st.session_state.uploaded
        return ckpt.model, ckpt.vocab, ("upload", st.session_state.get("uploaded_id"))
    if kind == "run":
        run_id, _, which = rest.partition(":")
        for w in runs():
            if str(w.run_id) == run_id:
                epoch = None if which == "latest" else int(which)
                ident_epoch = w.snapshot().epoch if epoch is None else epoch
                model = st.session_state.setdefault("_run_models", {})
                k = (w.run_id, ident_epoch)
                if k not in model:
                    model.clear()  # keep one materialised run model per session
                    model[k] = w.model(epoch).requires_grad_(False)
                return model[k], w.corpus.vocab, ("run", w.run_id, ident_epoch)
    return None


def main() -> None:
    # Inference here is batch 1 with tiny matmuls: one thread is fastest, and it never stalls behind busy cores.
    torch.set_num_threads(1)
    init_session()
    view = header_controls()
    status_box = st.sidebar.container()  # a run's status goes first in the sidebar (on the other tabs)
    corpus, config, settings_error = sidebar(view)
    if not view.projector:
        st.markdown(view.t("subtitle"))
    else:
        st.markdown(f"**{view.t('shortcuts_bar')}**")

    options = model_options(view)
    chosen = None
    if options:
        # url_choice drops a value that is not here: a run that was reset, or another visitor's link
        key = choice(st.selectbox, view.t("inspect"), list(options), "inspect", view, options.get,
                     label_visibility="collapsed" if view.projector else "visible")
        chosen = resolve_model(key)
    # The pretrained model makes the scrubber useful at once, so it comes first; training is one click away.
    # Only the open tab is drawn (see page_tabs); the others stay empty until they are opened.
    open_tab, boxes = page_tabs(view)
    with (dict(zip(TABS, boxes))[open_tab], error_boundary(view, f"{open_tab} tab"),
          kept_values(open_tab, "gates", gates_tab.KEPT_KEYS)):
        if open_tab == "train":
            train_tab.render(view, corpus, config, settings_error)
        elif chosen is None:
            st.info(view.t("no_model"))
        elif open_tab == "scrub":
            scrub_tab.render(view, *chosen, corpus=corpus, name=_file_name(key))
        elif open_tab == "force":
            force_tab.render(view, *chosen, corpus=corpus, config=config)
        else:
            gates_tab.render(view, *chosen, corpus=corpus, config=config)
    if open_tab != "train":
        train_tab.sidebar_status(view, status_box)
    sync_url()
    if open_tab != "scrub" or chosen is None:  # the scrubber draws it inside its fragment, following every step
        share_box(view)


def _file_name(key: str) -> str:
    return "gru_" + key.replace(":", "_")
