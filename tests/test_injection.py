"""User and URL text never becomes a live link, image or HTML: payloads through every message that shows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gru_viz.ui.view import md_escape

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAYLOADS = ["[Session expired, log in](https://example.com/login)", "![x](https://example.com/t.png)",
            "<img src=x onerror=alert(1)>", "<a href='https://example.com'>click</a>",
            "log in again at https://example.com/login", "see www.example.com or mail me@example.com"]
# a Markdown link or image, an HTML tag, or a bare address Markdown would link by itself
LIVE = re.compile(r"(?<!\\)\]\((?:https?:)?//|(?<!\\)<(?:img|a|script)\b|(?:https?|ftp)://|www\.|\w@\w",
                  re.IGNORECASE)


@pytest.fixture()
def fresh():
    yield
    st.cache_resource.clear()


def shown_texts(app: AppTest) -> list[str]:
    """Every piece of Markdown the page sent (messages, captions, markdown), main area and sidebar."""
    out = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        out += [str(e.value) for e in app.get(kind)]
        out += [str(e.value) for e in app.sidebar.get(kind)]
    return out


def assert_inert(app: AppTest, payload: str) -> None:
    texts = shown_texts(app)
    live = [t for t in texts if LIVE.search(t)]
    assert not live, live
    # and the visitor still sees what they typed, as text (escaped, so the Markdown shows it literally)
    assert any(md_escape(payload[:10]) in t for t in texts), payload


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_escape_leaves_no_link_image_or_tag(payload):
    assert not LIVE.search(md_escape(payload))


def test_the_live_pattern_catches_what_it_must():
    assert all(LIVE.search(p) for p in PAYLOADS)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_forcing_units_from_a_link(fresh, payload):
    for tab in ("force", "gates"):
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params.update({"tab": tab, "preset": "custom", "fz_on": "true", "f_units": payload})
        app.run()
        assert not app.exception
        assert_inert(app, payload)


@pytest.mark.parametrize("payload", PAYLOADS[:2])
def test_uploaded_file_names(fresh, payload):
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.file_uploader(key="upload_ckpt").upload(f"{payload}.safetensors", b"not a checkpoint at all").run()
    assert not app.exception
    assert_inert(app, payload)
    app.session_state["corpus_source"] = "upload"
    app.run()
    app.file_uploader(key="upload_txt").upload(f"{payload}.txt", b"\x00\x01binary\xff").run()
    assert not app.exception
    assert_inert(app, payload)
