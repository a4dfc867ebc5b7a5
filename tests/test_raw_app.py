"""The raw-character mode in the app (issue 17.6): Chinese prose pasted, trained, scrubbed, forced and explored;
the Python documentation with every character kept."""

from __future__ import annotations

import streamlit as st
from helpers import APP, selectbox_for
from streamlit.testing.v1 import AppTest
from zh_text import chinese_text


def no_errors(app) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def _train(app, epochs: int = 3):
    app.session_state["tab"] = "train"
    for key, value in (("hidden", 16), ("epochs", epochs), ("batch_size", 4), ("num_steps", 10)):
        app.number_input(key=f"w.{key}.{app.session_state['lang']}").set_value(value)
    app.run()
    app.button(key="btn_start").click().run()
    run = app.session_state["runs"][0]
    assert run.join(60) and run.progress().status == "finished"
    return run


def _open(app, tab: str):
    app.session_state["tab"] = tab
    return app.run()


def test_chinese_prose_trains_scrubs_forces_and_explores_in_the_chinese_ui(at):
    at.session_state["lang"] = "zh"
    at.run()
    at.radio(key="w.corpus_source.zh").set_value("paste").run()
    at.radio(key="w.tokens.zh").set_value("raw").run()
    text = chinese_text(5)
    at.text_area(key="w.paste_text.zh").set_value(text).run()
    no_errors(at)
    assert "词表覆盖" in "".join(c.value for c in at.sidebar.caption)
    run = _train(at)
    vocab = run.corpus.vocab
    assert vocab.mode == "raw" and "，" in vocab.token_to_idx and "\n" in vocab.token_to_idx
    at.session_state["inspect"] = f"run:{run.run_id}:latest"
    at.session_state["probe"] = text[:300]
    _open(at, "scrub")
    no_errors(at)
    scrub = __import__("json").loads(at.get("bidi_component")[0].proto.json)  # the in-browser scrubber's data
    assert "，" in scrub["payload"]["text"] and "\n" in scrub["payload"]["text"]  # raw mode keeps every character
    at.session_state["preset"] = "plain_rnn"
    _open(at, "force")
    no_errors(at)
    # the perplexities are on the probe and the continuations start from it, not from "time traveller"
    assert any("探测文本" in c.value for c in at.caption)
    assert any(text[:3] in m.value for m in at.markdown if "monospace" in m.value)
    at.session_state["preset"] = "free"
    _open(at, "gates")
    no_errors(at)
    labels = selectbox_for(at, "g_unit", "zh").options
    assert any("中文标点" in o for o in labels) or any("句内位置" in o for o in labels)
    coloured = "".join(m.value for m in at.markdown if "background:" in m.value)
    assert "Noto Sans CJK SC" in coloured and "，" in coloured and "↵" in coloured  # the line breaks are kept


def test_python_docs_with_every_character_kept(at):
    at.radio(key="w.corpus_source.en").set_value("offline").run()
    at.radio(key="w.tokens.en").set_value("raw").run()
    no_errors(at)
    vocab_box = at.number_input(key="w.max_vocab.en")
    assert 40 < vocab_box.value < 200  # 99.5 % of the docs' characters: upper and lower case, digits, symbols
    vocab_box.set_value(60).run()
    at.number_input(key="w.max_tokens.en").set_value(3000).run()
    run = _train(at, epochs=2)
    assert len(run.corpus.vocab) == 60 and {'"', "(", "\n", "A"} <= set(run.corpus.vocab.idx_to_token)
    at.session_state["inspect"] = f"run:{run.run_id}:latest"
    at.session_state["probe"] = 'The "assert" statement\n  if x: (a[0])\n'
    _open(at, "scrub")
    no_errors(at)
    _open(at, "gates")
    no_errors(at)
    assert any("inside double quotes" in o for o in selectbox_for(at, "g_unit").options)


def test_the_bundled_raw_model_is_in_the_chooser_and_its_explorer_finds_the_quote_unit():
    """docs/RAW.md's claim, as the app shows it: on the docs' first 500 characters unit 248 tracks double quotes."""
    app = AppTest.from_file(APP, default_timeout=90)
    try:
        app.query_params.update({"tab": "gates", "inspect": "raw:30"})
        app.run()
        no_errors(app)
        labels = selectbox_for(app, "g_unit").options
        assert any(o.startswith("unit 248: inside double quotes") for o in labels), labels[:5]
        scrub = AppTest.from_file(APP, default_timeout=90)
        scrub.query_params.update({"inspect": "raw:30"})
        scrub.run()
        no_errors(scrub)
        text = __import__("json").loads(scrub.get("bidi_component")[0].proto.json)["payload"]["text"]
        assert "\n" in text and '"' in text  # the docs' own passage, every character kept
    finally:
        st.cache_resource.clear()
