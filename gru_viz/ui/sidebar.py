"""The sidebar: the corpus and d2l's training settings (what a run would use), and a checkpoint to inspect."""

from __future__ import annotations

import dataclasses
import hashlib

import streamlit as st

from gru_viz.checkpoint import CheckpointError, load_checkpoint
from gru_viz.data import MAX_VOCAB, TOKENISATIONS, Corpus, CorpusError, decode_text, make_corpus
from gru_viz.train import TrainConfig, available_devices, resolve_device
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Training
from gru_viz.ui.chrome import error_boundary
from gru_viz.ui.page_state import CAPS
from gru_viz.ui.state import offline_corpus, timemachine
from gru_viz.ui.view import View, md_escape

MAX_TEXT_BYTES = 2_000_000
MAX_CKPT_MB = 16


def _own_text_corpus(text: str, name: str, max_tokens: int, tokens: str = "d2l",
                     max_vocab: int | None = None) -> Corpus:
    """A visitor's text as a corpus, built once per change of text, length or tokenisation (not at every rerun:
    a 2 MB paste took 0.15 s and 20 MB each time)."""
    ss = st.session_state
    key = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), name, max_tokens, tokens, max_vocab)
    cached = ss.get("_own_corpus")
    if cached is None or cached[0] != key:
        ss["_own_corpus"] = None  # a failed build must not leave the previous text's corpus behind
        ss["_own_corpus"] = (key, make_corpus(text, name, max_tokens, tokens, max_vocab))
    return ss["_own_corpus"][1]


@st.cache_resource(show_spinner=False, max_entries=6)
def _raw_corpus(source: str, max_vocab: int | None) -> Corpus:
    """A bundled corpus (the book or the Python docs) with every character kept: shared by every visitor."""
    base = offline_corpus() if source == "offline" else timemachine()[0]
    return make_corpus(base.raw, base.name, 0, "raw", max_vocab)


def _training_corpus(view: View, source: str, max_tokens: int, tokens: str = "d2l",
                     max_vocab: int | None = None) -> tuple[Corpus | None, str]:
    """The corpus chosen in the sidebar, or (None, a reason, escaped for Markdown)."""
    sb = st  # drawn inside the settings' container (the sidebar, or projector mode's Settings button)
    try:
        if source == "tm":
            base, error = timemachine()
            if base is None:
                return None, view.t("tm_unavailable", reason=md_escape(error))
            if tokens == "raw":
                base = _raw_corpus("tm", max_vocab)
            return dataclasses.replace(base, tokens=base.tokens[:max_tokens]), ""
        if source == "offline":
            base = offline_corpus() if tokens == "d2l" else _raw_corpus("offline", max_vocab)
            return dataclasses.replace(base, tokens=base.tokens[:max_tokens]), ""
        if source == "upload":
            up = sb.file_uploader(view.t("upload_txt"), type=["txt"], key="upload_txt")
            if up is None:
                return None, ""
            if up.size > MAX_TEXT_BYTES:
                return None, view.t("too_large", name=md_escape(up.name), mb=MAX_TEXT_BYTES // 1_000_000)
            return _own_text_corpus(decode_text(up.getvalue(), up.name), up.name, max_tokens, tokens, max_vocab), ""
        raw = str(ps.widget(sb.text_area, view.t("paste_here"), "paste_text", lang=view.lang, height=150,
                            max_chars=MAX_TEXT_BYTES))
        if not raw.strip():
            return None, ""
        return _own_text_corpus(raw, view.t("pasted_text"), max_tokens, tokens, max_vocab), ""
    except CorpusError as exc:
        return None, md_escape(str(exc))


def sidebar(view: View) -> Training:
    """Training settings and corpus: what a run would use, or why it cannot. Drawn into the current container
    (app.py opens the sidebar, or in projector mode the Settings button's popover)."""
    sb = st
    sb.header(view.t("settings"))
    w = ps.widget
    lang = view.lang
    sources = ("tm", "offline", "upload", "paste")
    ps.settle("corpus_source", sources)
    source = w(sb.radio, view.t("corpus"), "corpus_source", sources, lang=lang,
               format_func=lambda k: view.t(f"corpus_{k}"))
    tokens = str(w(sb.radio, view.t("tokens"), "tokens", TOKENISATIONS, lang=lang, horizontal=True,
                   format_func=lambda k: view.t(f"tokens_{k}"), help=view.t("tokens_help")))
    max_tokens = w(sb.number_input, view.t("max_tokens"), "max_tokens", 100, CAPS["max_tokens"], lang=lang,
                   step=1000)
    max_vocab = ps.get("max_vocab") if tokens == "raw" else None
    corpus, error = _training_corpus(view, str(source), int(max_tokens), tokens, max_vocab)
    if corpus is not None:
        name = corpus.name if source in ("upload", "paste") else view.t(f"corpus_{source}")
        sb.caption(view.t("corpus_info", name=md_escape(name), tokens=len(corpus.tokens), vocab=len(corpus.vocab)))
        if tokens == "raw":  # the default size is the text's own (99.5 % coverage), shown until the visitor sets one
            w(sb.number_input, view.t("max_vocab"), "max_vocab", 2, MAX_VOCAB, lang=lang, step=10,
              shown=len(corpus.vocab), help=view.t("max_vocab_help"))
            sb.caption(view.t("corpus_coverage", cov=corpus.coverage))
    elif error:
        sb.error(error)

    c1, c2 = sb.columns(2)
    hidden = w(c1.number_input, view.t("hidden"), "hidden", 1, CAPS["hidden"], lang=lang)
    epochs = w(c2.number_input, view.t("epochs"), "epochs", 1, CAPS["epochs"], lang=lang)
    lr = w(c1.number_input, view.t("lr"), "lr", 0.001, 100.0, lang=lang, format="%.3f")
    clip = w(c2.number_input, view.t("clip"), "clip", 0.01, 100.0, lang=lang, format="%.2f")
    batch = w(c1.number_input, view.t("batch_size"), "batch_size", 1, CAPS["batch_size"], lang=lang)
    steps = w(c2.number_input, view.t("num_steps"), "num_steps", 1, CAPS["num_steps"], lang=lang)
    seed = w(c1.number_input, view.t("seed"), "seed", 0, 2**31 - 1, lang=lang)
    devices = available_devices()
    ps.settle("device", devices)
    device = w(c2.selectbox, view.t("device"), "device", devices, lang=lang)
    sampling = w(sb.radio, view.t("sampling"), "sampling", ("sequential", "random"), lang=lang, format_func=view.t,
                 horizontal=True)
    choice = fast_choice(str(device), len(corpus.vocab) if corpus is not None else 28, int(batch), int(hidden),
                         int(steps))
    engine_labels = {k: view.t(f"engine_{k}", loops=loops_label(view, choice.loops)) for k in ("fast", "textbook")}
    engine = w(sb.radio, view.t("engine_choice"), "engine", tuple(engine_labels), lang=lang,
               labels=engine_labels.values(), format_func=engine_labels.get)  # the kernel's build may finish
    if engine == "fast":
        sb.caption(build_note(view, choice))
    config = None
    try:
        config = TrainConfig(hidden=int(hidden), lr=float(lr), epochs=int(epochs), batch_size=int(batch),
                             num_steps=int(steps), clip=float(clip), max_tokens=int(max_tokens),
                             random_iter=sampling == "random", seed=int(seed), device=str(device), engine=str(engine))
    except ValueError as exc:
        error = error or md_escape(str(exc))
    sb.divider()
    with error_boundary(view, "checkpoint upload"):  # whatever a crafted file does, the settings above stay
        checkpoint_upload(view)
    return Training(corpus, config, error)


def fast_choice(device: str, vocab: int, batch: int, hidden: int, steps: int):
    """The loops a fast run of these settings would train with (`choose_loops`, from the measured cache only: the
    page never times anything)."""
    from gru_viz.fast import choose_loops
    from gru_viz.ui.actions import TORCH_THREADS

    return choose_loops(resolve_device(device).type, "float32", vocab, batch, hidden, threads=TORCH_THREADS,
                        steps=steps, calibrate_now=False)


def loops_label(view: View, loops: str) -> str:
    return view.t("loops_" + loops.replace("-", "_"))


def build_note(view: View, choice) -> str:
    """Which loops the fast path runs for these settings and why (measured, the default order, the server's
    setting), then the C++ kernel's build (built, being built, no compiler, not enough memory, failed), escaped."""
    from gru_viz.fast import build_state

    state = build_state(choice)
    timings = ", ".join(f"{loops_label(view, n)} {ms:.1f}" for n, ms in choice.timings)
    detail = md_escape(state.build) if state.code == "failed" else ""
    return md_escape(view.t(f"loops_{choice.code}", timings=timings)) + " " + view.t(f"build_{state.code}",
                                                                                   detail=detail)


def checkpoint_upload(view: View) -> None:
    """A checkpoint to inspect: checked from its header before anything is allocated; a refusal says why."""
    up = st.file_uploader(view.t("upload_ckpt"), type=["safetensors"], key="upload_ckpt",
                                  max_upload_size=MAX_CKPT_MB)
    ss = st.session_state
    if up is None:
        return
    if ss.get("uploaded_id") == up.file_id:
        if ss.get("uploaded_error"):
            st.error(ss.uploaded_error)
        return
    ss.uploaded_id, ss.uploaded_error = up.file_id, ""
    try:
        ckpt = load_checkpoint(up.getvalue(), up.name, max_hidden=CAPS["hidden"])  # the app's cap, not the CLI's
        ckpt.model.requires_grad_(False)
        ss.uploaded = (up.name, ckpt)
        ss.inspect = "upload"
        st.success(view.t("ckpt_loaded", name=md_escape(up.name), hidden=ckpt.model.hidden,
                                  vocab=len(ckpt.vocab)))
    except CheckpointError as exc:
        ss.uploaded_error = md_escape(str(exc))
        st.error(ss.uploaded_error)
