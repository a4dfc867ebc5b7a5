"""The sidebar: the corpus and d2l's training settings (what a run would use), and a checkpoint to inspect."""

from __future__ import annotations

import dataclasses

import streamlit as st

from gru_viz.checkpoints.checkpoint import CheckpointError
from gru_viz.data import Corpus, CorpusError, decode_text, make_corpus
from gru_viz.train import TrainConfig, available_devices, resolve_device
from gru_viz.ui import page_state as ps
from gru_viz.ui.actions import Training
from gru_viz.ui.chrome import error_boundary
from gru_viz.ui.own_text import dropped_notice, own_corpus
from gru_viz.ui.page_state import CAPS
from gru_viz.ui.session_kept import KeptUpload
from gru_viz.ui.state import offline_corpus, session_keeps, timemachine, training_slots, visitor_id
from gru_viz.ui.uploads import MAX_CKPT_MB, MAX_TEXT_BYTES
from gru_viz.ui.view import View, md_escape


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
            base, _ = timemachine()
            if base is None:  # offline: said calmly by offline_note, without the socket's error text
                return None, view.t("tm_unavailable")
            if tokens == "raw":
                base = _raw_corpus("tm", max_vocab)
            return dataclasses.replace(base, tokens=base.tokens[:max_tokens]), ""
        if source == "offline":
            base = offline_corpus() if tokens == "d2l" else _raw_corpus("offline", max_vocab)
            return dataclasses.replace(base, tokens=base.tokens[:max_tokens]), ""
        if source == "upload":
            up = sb.file_uploader(view.t("upload_txt"), type=["txt"], key="upload_txt",
                                  max_upload_size=-(-MAX_TEXT_BYTES // 2**20),  # MiB, rounded up: 2 MB fits
                                  help=view.t("upload_txt_help", mb=MAX_TEXT_BYTES // 1_000_000))
            if up is None:
                return None, ""
            if up.size > MAX_TEXT_BYTES:
                return None, view.t("too_large", name=md_escape(up.name), mb=MAX_TEXT_BYTES // 1_000_000)
            dropped = dropped_notice(view, source, up.file_id)  # freed to make room: said, not rebuilt
            if dropped:
                return None, dropped
            return own_corpus(decode_text(up.getvalue(), up.name), up.name, max_tokens, tokens, max_vocab,
                              "upload", up.file_id), ""
        dropped = dropped_notice(view, source)  # before the text box: a dropped paste is cleared there
        label = view.t("paste_here_raw" if tokens == "raw" else "paste_here")  # what this tokenisation keeps
        raw = str(ps.widget(sb.text_area, label, "paste_text", lang=view.lang, height=150))
        if not raw.strip():
            return None, dropped
        return own_corpus(raw, view.t("pasted_text"), max_tokens, tokens, max_vocab), ""
    except CorpusError as exc:
        return None, md_escape(str(exc))


def sidebar(view: View) -> Training:
    """Training settings and corpus: what a run would use, or why it cannot. Drawn into the current container
    (app.py opens the sidebar, or in projector mode the Settings button's popover)."""
    sb = st
    sb.header(view.t("settings"))
    w = ps.widget
    lang = view.lang
    offline = offline_default()
    source = w(sb.radio, view.t("corpus"), "corpus_source", lang=lang, format_func=lambda k: view.t(f"corpus_{k}"))
    if offline:
        offline_note(view, str(source))
    tokens = str(w(sb.radio, view.t("tokens"), "tokens", lang=lang, horizontal=True,
                   format_func=lambda k: view.t(f"tokens_{k}"), help=view.t("tokens_help")))
    max_tokens = w(sb.number_input, view.t("max_tokens"), "max_tokens", lang=lang)
    max_vocab = ps.get("max_vocab") if tokens == "raw" else None
    corpus, error = _training_corpus(view, str(source), int(max_tokens), tokens, max_vocab)
    if corpus is not None:
        name = corpus.name if source in ("upload", "paste") else view.t(f"corpus_{source}")
        sb.caption(view.t("corpus_info", name=md_escape(name), tokens=len(corpus.tokens), vocab=len(corpus.vocab)))
        if tokens == "raw":  # the default size is the text's own (99.5 % coverage), shown until the visitor sets one
            w(sb.number_input, view.t("max_vocab"), "max_vocab", lang=lang, shown=len(corpus.vocab),
              help=view.t("max_vocab_help"))
            sb.caption(view.t("corpus_coverage", cov=corpus.coverage))
    elif error and not (offline and source == "tm"):  # offline, the note above says it
        sb.error(error)

    c1, c2 = sb.columns(2)
    hidden = w(c1.number_input, view.t("hidden"), "hidden", lang=lang)
    epochs = w(c2.number_input, view.t("epochs"), "epochs", lang=lang)
    lr = w(c1.number_input, view.t("lr"), "lr", lang=lang, format="%.3f")
    clip = w(c2.number_input, view.t("clip"), "clip", lang=lang, format="%.2f")
    batch = w(c1.number_input, view.t("batch_size"), "batch_size", lang=lang)
    steps = w(c2.number_input, view.t("num_steps"), "num_steps", lang=lang)
    seed = w(c1.number_input, view.t("seed"), "seed", lang=lang)
    devices = available_devices()
    ps.settle("device", devices)
    device = w(c2.selectbox, view.t("device"), "device", devices, lang=lang,
               format_func=lambda d: view.t("device_auto") if d == "auto" else d)
    sampling = w(sb.radio, view.t("sampling"), "sampling", lang=lang, format_func=view.t, horizontal=True)
    choice = fast_choice(str(device), len(corpus.vocab) if corpus is not None else 28, int(batch), int(hidden),
                         int(steps))
    engine_labels = {k: view.t(f"engine_{k}", loops=loops_label(view, choice.loops)) for k in ps.options("engine")}
    engine = w(sb.radio, view.t("engine_choice"), "engine", lang=lang, labels=engine_labels.values(),
               format_func=engine_labels.get)  # the kernel's build may finish
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


def offline_default() -> bool:
    """Whether the book cannot be had here (no internet, none cached). Then, once per session, the default corpus
    becomes the offline one, so Start and the race work at once; a corpus the person chose is kept."""
    offline = timemachine()[0] is None
    if offline and not ps.get("_offline_default"):
        ps.put("_offline_default", True)
        if ps.get("corpus_source") == "tm":
            ps.put("corpus_source", "offline")
    return offline


def offline_note(view: View, source: str) -> None:
    """Offline, said once and calmly in the page's language: what works, and one click to it."""
    if source == "tm":
        st.info(view.t("offline_tm"), icon=":material/wifi_off:")
        st.button(view.t("offline_use"), key="offline_use", on_click=ps.put, args=("corpus_source", "offline"),
                  type="primary")
    else:
        st.caption(view.t("offline_note"))


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
    """A checkpoint to inspect, or a bare file saved in a d2l notebook: checked from its header before anything
    is allocated; a refusal says why. A notebook file's vocabulary order is recognised, with a switch."""
    up = st.file_uploader(view.t("upload_ckpt"), type=["safetensors"], key="upload_ckpt",
                          max_upload_size=MAX_CKPT_MB, help=view.t("upload_ckpt_help", mb=MAX_CKPT_MB))
    held = ps.get("uploaded")
    if isinstance(held, KeptUpload) and held.dropped and held.dropped != "replaced":  # freed to make room: said once
        st.warning(view.t(f"upload_dropped_{held.dropped}", mb=max(1, round(held.nbytes / 2**20))))
        ps.drop("uploaded")
    elif isinstance(held, KeptUpload) and held.kept is not None and held:
        held.kept.touch(held)  # still here to inspect: the visitor's ended runs go before it
    if up is None:
        return
    loaded = ps.get("uploaded_file") != up.file_id
    if loaded:  # a new file: read it, recognising a notebook file's order
        for key in ("uploaded_file", "uploaded_error", "uploaded_nb", "upload_order_unknown"):
            ps.drop(key)
        ps.put("uploaded_file", up.file_id)
        _load_upload(view, up, None)
    refusal = st.empty()  # an earlier refusal, in its place, unless the switch below has just read the file again
    if ps.get("uploaded_nb") is not None or ps.get("upload_order_unknown"):
        loaded |= _edition_switch(view, up)
    if not loaded and ps.get("uploaded_error"):
        refusal.error(str(ps.get("uploaded_error")))
    uploaded = ps.get("uploaded")
    if uploaded and str(ps.get("uploaded_id") or "").startswith(up.file_id) and not ps.get("uploaded_error"):
        model = uploaded[1].model
        st.caption(view.t("convention_torch" if getattr(model, "convention", "d2l") == "torch" else "convention_d2l"))


def _load_upload(view: View, up, edition: str | None) -> None:
    from gru_viz.checkpoints.notebook import VocabOrderError, load_any

    try:
        ckpt, nb = load_any(up.getvalue(), up.name, edition, max_hidden=CAPS["hidden"])  # the app's cap
        ckpt.model.requires_grad_(False)
        _keep_upload(up.name, ckpt)
        ps.put("uploaded_nb", nb)
        ps.put("uploaded_error", "")
        ps.put("uploaded_id", f"{up.file_id}:{nb.edition if nb else ''}")  # the model's identity for caches
        ps.put("inspect", "upload")
        st.success(view.t("ckpt_loaded", name=md_escape(up.name), hidden=ckpt.model.hidden, vocab=len(ckpt.vocab)))
    except CheckpointError as exc:
        if isinstance(exc, VocabOrderError):  # the one refusal with a way on (the switch): said in the page's language
            from gru_viz.checkpoints.notebook import FACTOR

            ps.put("uploaded_error", view.t("nb_order_unknown", name=md_escape(up.name), factor=FACTOR,
                                            seed=exc.perplexity["seed"], d2l10=exc.perplexity["d2l-1.0"]))
        else:
            ps.put("uploaded_error", md_escape(str(exc)))
        ps.put("upload_order_unknown", isinstance(exc, VocabOrderError))
        st.error(str(ps.get("uploaded_error")))


def _keep_upload(name: str, ckpt) -> None:
    """The uploaded model into the session, counted with what the visitor and the server keep (serve.kept): it may
    be dropped to make room, and the session's end gives it back."""
    old = ps.get("uploaded")
    if isinstance(old, KeptUpload):
        old.forget()
    kept = training_slots().kept
    held = KeptUpload(name, ckpt, kept)
    ps.put("uploaded", held)
    session_keeps(held)
    if kept is not None:  # may drop this visitor's (or, near the server's limit, anyone's) oldest: never this one
        kept.add(held, visitor_id(), held.nbytes, held.drop)


def _edition_switch(view: View, up) -> bool:
    """Which edition's vocabulary order a notebook file is read in: recognised, or the person's choice. True when
    a new choice read the file again (it said how that went)."""
    from gru_viz.checkpoints.notebook import EDITIONS

    nb = ps.get("uploaded_nb")
    if nb is not None and nb.edition == "metadata":
        st.caption(view.t("nb_vocab_meta", layout=view.t(f"layout_{nb.layout}")))
        return False
    editions = list(EDITIONS)
    current = editions.index(nb.edition) if nb is not None else None
    choice = st.radio(view.t("nb_switch"), editions, index=current, format_func=lambda e: view.t(f"edition_{e}"),
                      key=f"upload_edition.{up.file_id}.{view.lang}", horizontal=True)
    again = choice is not None and choice != (nb.edition if nb is not None else None)
    if again:
        _load_upload(view, up, choice)
        nb = ps.get("uploaded_nb")
    if nb is not None:
        st.caption(view.t("nb_assumed", layout=view.t(f"layout_{nb.layout}"), seed=nb.perplexity["seed"],
                          edition=view.t(f"edition_{nb.edition}"), d2l10=nb.perplexity["d2l-1.0"],
                          how=view.t("nb_recognised" if nb.chosen else "nb_chosen")))
    return again
