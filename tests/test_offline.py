"""Offline (no book cached, every download refused) is a state users are in: said calmly in the page's language,
no socket error text, the offline corpus as the default, and Start and "Start the race" work."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from helpers import cut_network
from streamlit.testing.v1 import AppTest

from gru_viz.ui.i18n import en, zh

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
STRINGS = {"en": en.EN, "zh": zh.ZH}


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    cut_network(monkeypatch, tmp_path)
    apps: list[AppTest] = []
    yield apps
    for at in apps:
        for w in at.session_state["runs"] if "runs" in at.session_state else []:
            w.stop()
            w.join(2.0)
    st.cache_resource.clear()


def page(apps: list, lang: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"lang": lang, **params})
    at.run()
    apps.append(at)
    assert not at.exception, [e.value for e in at.exception]
    return at


def every_text(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "caption", "markdown")
                     for e in getattr(at, kind))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_offline_the_page_is_calm_the_default_works_and_start_trains(offline, lang):
    at = page(offline, lang, tab="train")
    text = every_text(at)
    assert "Errno" not in text and "Name or service" not in text and not at.error
    assert at.session_state["corpus_source"] == "offline"
    assert STRINGS[lang]["offline_note"] in text
    at.number_input(key=f"w.hidden.{lang}").set_value(8)
    at.number_input(key=f"w.epochs.{lang}").set_value(2)
    at.number_input(key=f"w.batch_size.{lang}").set_value(4)
    at.number_input(key=f"w.num_steps.{lang}").set_value(10)
    at.run()
    at.button(key="btn_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = at.session_state["runs"][0]
    assert run.join(60) and run.progress().status == "finished"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_offline_choosing_the_book_says_what_works_and_one_click_goes_there(offline, lang):
    at = page(offline, lang, tab="gates")
    at.radio(key=f"w.corpus_source.{lang}").set_value("tm").run()
    assert STRINGS[lang]["offline_tm"] in every_text(at) and not at.error
    at.button(key="offline_use").click().run()
    assert at.session_state["corpus_source"] == "offline"
    at.number_input(key=f"w.race_hidden.{lang}").set_value(8)
    at.number_input(key=f"w.race_epochs.{lang}").set_value(5)  # the race's least (registry: 5-500)
    at.number_input(key=f"w.batch_size.{lang}").set_value(8)
    at.run()
    at.button(key="btn_race").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = at.session_state["runs"][0]
    assert run.race and run.join(120) and run.progress().status == "finished"
