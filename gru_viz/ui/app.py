"""The page: sidebar settings, the model chooser, and the three tabs (train, scrub, force)."""

from __future__ import annotations

import dataclasses
import logging

import streamlit as st
import torch

from gru_viz.checkpoint import CheckpointError, load_checkpoint
from gru_viz.data import Corpus, CorpusError, Vocab, decode_text, make_corpus
from gru_viz.model import GRUScratch
from gru_viz.train import TrainConfig
from gru_viz.ui import force_tab, scrub_tab, train_tab
from gru_viz.ui.state import init_session, offline_corpus, pretrained, runs, timemachine
from gru_viz.ui.strings import tr

log = logging.getLogger(__name__)

# Per-visitor caps: a public server shares 2 cores and 2.7 GB between everyone.
CAPS = {"hidden": 512, "epochs": 1000, "batch_size": 256, "num_steps": 200, "max_tokens": 200_000}
MAX_TEXT_BYTES = 2_000_000
MAX_CKPT_MB = 16


def sidebar(lang: str) -> tuple[Corpus | None, TrainConfig | None, str]:
    """Training settings and corpus; returns (corpus, config, error message)."""
    sb = st.sidebar
    sb.header(tr("settings", lang))
    choices = {"tm": tr("corpus_tm", lang), "offline": tr("corpus_offline", lang),
               "upload": tr("corpus_upload", lang), "paste": tr("corpus_paste", lang)}
    source = sb.radio(tr("corpus", lang), list(choices), format_func=choices.get, key="corpus_source")
    d = TrainConfig()
    max_tokens = sb.number_input(tr("max_tokens", lang), 100, CAPS["max_tokens"], d.max_tokens, step=1000,
                                 key="max_tokens")
    raw, name, error = None, "", ""
    if source == "tm":
        corpus, error = timemachine()
        if corpus is not None:
            raw, name = None, corpus.name
    if source == "offline":
        corpus, error = offline_corpus(), ""
    if source == "upload":
        up = sb.file_uploader(tr("upload_txt", lang), type=["txt"], key="upload_txt")
        if up is not None:
            try:
                if up.size > MAX_TEXT_BYTES:
                    raise CorpusError(f"{up.name}: larger than {MAX_TEXT_BYTES // 1_000_000} MB")
                raw, name = decode_text(up.getvalue(), up.name), up.name
            except CorpusError as exc:
                error = str(exc)
    if source == "paste":
        raw = sb.text_area(tr("paste_here", lang), key="paste_text", height=150, max_chars=MAX_TEXT_BYTES)
        name = "pasted text"
    corpus = None
    try:
        if source in ("tm", "offline") and not error:
            base = timemachine()[0] if source == "tm" else offline_corpus()
            corpus = dataclasses.replace(base, tokens=base.tokens[:max_tokens])
        elif raw is not None and raw.strip():
            corpus = make_corpus(raw, name, max_tokens)
    except CorpusError as exc:
        error = str(exc)
    if corpus is not None:
        sb.caption(tr("corpus_info", lang, name=corpus.name, tokens=len(corpus.tokens), vocab=len(corpus.vocab)))
    elif error:
        sb.error(error)

    c1, c2 = sb.columns(2)
    hidden = c1.number_input(tr("hidden", lang), 1, CAPS["hidden"], d.hidden, key="hidden")
    epochs = c2.number_input(tr("epochs", lang), 1, CAPS["epochs"], d.epochs, key="epochs")
    lr = c1.number_input(tr("lr", lang), 0.001, 100.0, d.lr, format="%.3f", key="lr")
    clip = c2.number_input(tr("clip", lang), 0.01, 100.0, d.clip, format="%.2f", key="clip")
    batch = c1.number_input(tr("batch_size", lang), 1, CAPS["batch_size"], d.batch_size, key="batch_size")
    steps = c2.number_input(tr("num_steps", lang), 1, CAPS["num_steps"], d.num_steps, key="num_steps")
    seed = c1.number_input(tr("seed", lang), 0, 2**31 - 1, d.seed, key="seed")
    device = c2.selectbox(tr("device", lang), ["auto", "cpu", "cuda", "mps"], key="device")
    sampling = sb.radio(tr("sampling", lang), ["sequential", "random"], format_func=lambda k: tr(k, lang),
                        horizontal=True, key="sampling")
    engine = sb.radio(tr("engine_choice", lang), ["textbook", "fast"], format_func=lambda k: tr(f"engine_{k}", lang),
                      key="engine")
    config = None
    try:
        config = TrainConfig(hidden=int(hidden), lr=float(lr), epochs=int(epochs), batch_size=int(batch),
                             num_steps=int(steps), clip=float(clip), max_tokens=int(max_tokens),
                             random_iter=sampling == "random", seed=int(seed), device=device, engine=engine)
    except ValueError as exc:
        error = error or str(exc)
    sb.divider()
    checkpoint_upload(lang)
    return corpus, config, error


def checkpoint_upload(lang: str) -> None:
    up = st.sidebar.file_uploader(tr("upload_ckpt", lang), type=["safetensors"], key="upload_ckpt",
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
        st.sidebar.success(tr("ckpt_loaded", lang, name=up.name, hidden=ckpt.model.hidden, vocab=len(ckpt.vocab)))
    except CheckpointError as exc:
        ss.uploaded_error = str(exc)
        st.sidebar.error(str(exc))


def model_options(lang: str) -> dict[str, str]:
    opts = {f"pre:{e}": tr("pretrained", lang, epoch=e) for e in sorted(pretrained(), reverse=True)}
    for w in reversed(runs()):
        snap = w.snapshot()
        if snap.epoch:
            opts[f"run:{w.run_id}:latest"] = tr("run_latest", lang, id=w.run_id, label=snap.label, epoch=snap.epoch)
            for e in reversed(snap.snapshot_epochs):
                opts[f"run:{w.run_id}:{e}"] = tr("run_epoch", lang, id=w.run_id, label=snap.label, epoch=e)
    if st.session_state.get("uploaded"):
        opts["upload"] = tr("uploaded", lang, name=st.session_state.uploaded[0])
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
    lang = st.session_state.get("lang", "en")
    # Inference here is batch 1 with tiny matmuls: one thread is fastest, and it never stalls behind busy cores.
    torch.set_num_threads(1)
    init_session()
    corpus, config, settings_error = sidebar(lang)
    st.title(tr("title", lang))
    st.markdown(tr("subtitle", lang))

    options = model_options(lang)
    if st.session_state.get("inspect") not in options:
        st.session_state.pop("inspect", None)
    chosen = None
    if options:
        key = st.selectbox(tr("inspect", lang), list(options), format_func=options.get, key="inspect")
        chosen = resolve_model(key)
    # The pretrained model makes the scrubber useful at once, so it comes first; training is one click away.
    tabs = st.tabs([tr("tab_scrub", lang), tr("tab_force", lang), tr("tab_train", lang)])
    with tabs[0]:
        if chosen is None:
            st.info(tr("no_model", lang))
        else:
            scrub_tab.render(lang, *chosen, corpus=corpus)
    with tabs[1]:
        if chosen is None:
            st.info(tr("no_model", lang))
        else:
            force_tab.render(lang, *chosen, corpus=corpus, config=config)
    with tabs[2]:
        train_tab.render(lang, corpus, config, settings_error)
