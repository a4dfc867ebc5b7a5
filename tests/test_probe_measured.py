"""② measures the probe: every perplexity is computed on the text shown in ② (the probe), offline too, where the
bundled d2l model is scored on the line of English written in the code, not on text it never read."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from helpers import cut_network
from streamlit.testing.v1 import AppTest

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.data import preprocess
from gru_viz.explain.inference import text_perplexity
from gru_viz.nets.model import PRESETS
from gru_viz.ui.i18n import en, zh
from gru_viz.ui.probe import FALLBACK_PROBE, probe_prefix
from gru_viz.ui.state import ASSETS

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
STRINGS = {"en": en.EN, "zh": zh.ZH}
MINE = "a small boat came down the river in the morning and the people on the bank waved to it"


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """No book in the cache and every download refused, as on a school network without internet."""
    cut_network(monkeypatch, tmp_path)
    yield tmp_path
    st.cache_resource.clear()


@pytest.fixture()
def live(monkeypatch):
    """② as the page runs it: in the browser (tests/conftest.py keeps AppTest's ② on the server)."""
    monkeypatch.setenv("GRU_VIZ_LIVE_FORCE", "1")


def force_page(lang: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"tab": "force", "lang": lang, **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def perplexities(at: AppTest, lang: str) -> tuple[float, float]:
    metrics = {m.label: m.value for m in at.metric}
    return float(metrics[STRINGS[lang]["ppl_free"]]), float(metrics[STRINGS[lang]["ppl_forced"]])


def shown_model(at: AppTest):
    kind, _, epoch = str(at.session_state["inspect"]).partition(":")
    assert kind == "pre"
    return load_checkpoint(ASSETS / f"epoch_{int(epoch):04d}.safetensors")


def live_data(at: AppTest) -> dict:
    """What ②'s browser half gets (gru_viz/ui/live_force.py): the probe it traces and measures, the setting."""
    import json

    (found,) = [json.loads(c.proto.json) for c in at.get("bidi_component") if '"probe"' in c.proto.json]
    return found


def expected(at: AppTest, text: str, preset: str) -> tuple[float, float]:
    ckpt = shown_model(at)
    ids = ckpt.vocab.encode(preprocess(text))
    return text_perplexity(ckpt.model, ids), text_perplexity(ckpt.model, ids, PRESETS[preset])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_offline_the_d2l_model_is_scored_on_the_english_line_it_read(offline, live, lang):
    at = force_page(lang, preset="frozen_memory")
    data = live_data(at)
    assert data["probe"] == FALLBACK_PROBE and data["model"] is not None  # the text measured, in ②
    free, forced = expected(at, data["probe"], "frozen_memory")
    assert forced > free  # on English it read, freezing the memory makes the model worse (offline it read "better")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_text_the_person_typed_is_the_one_measured(offline, live, lang):
    at = force_page(lang, preset="amnesia")
    at.session_state["probe"] = MINE
    at.run()
    assert not at.exception
    assert live_data(at)["probe"] == MINE and probe_prefix(preprocess(MINE)).startswith("a small boat")


def test_in_a_class_every_page_shows_the_teachers_numbers_measured_on_the_teachers_text(offline):
    teacher = force_page("en", preset="plain_rnn")
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class"]
    # a student who typed another text: before the reveal, nothing; after it, the teacher's numbers
    student = force_page("zh", preset="plain_rnn", **{"class": code})
    student.session_state["probe"] = MINE
    student.run()
    student.radio(key=f"class.{code}.ppl_plain_rnn.zh").set_value("up").run()
    teacher.run()
    teacher.button(key="class_reveal_ppl_plain_rnn").click().run()
    free, forced = expected(teacher, FALLBACK_PROBE, "plain_rnn")
    student.run()
    answer = STRINGS["zh"]["ppl_ans_up"].format(free=free, forced=forced)
    assert forced > free and any(answer in m.value for m in student.markdown), [m.value for m in student.markdown]
    assert any(STRINGS["zh"]["ppl_ans_on"].format(n=len(preprocess(FALLBACK_PROBE))) in m.value
               for m in student.markdown)
    assert any(t.value == preprocess(FALLBACK_PROBE) for t in student.text)  # the text they were measured on
    mine = expected(student, MINE, "plain_rnn")
    assert STRINGS["zh"]["ppl_ans_up"].format(free=mine[0], forced=mine[1]) != answer  # not the student's own
