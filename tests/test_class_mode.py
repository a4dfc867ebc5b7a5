"""Class mode in the app: a teacher and two students in three AppTests sharing one store, the join link, typed
answers kept inert, both languages, the tally figure."""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from pathlib import Path

import plotly.graph_objects as go
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gru_viz.serve.class_terms import MAX_TEXT, PPL_CHOICES, QUESTIONS
from gru_viz.serve.classroom import open_store
from gru_viz.views.figures import tally_figure

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAYLOAD = ('[click](https://evil.example) ![x](https://evil.example/i.png) <img src=x onerror="alert(1)"> '
           '<script>alert(2)</script> **bold** <a href="https://evil.example">a</a>')


@pytest.fixture()
def classroom_dir(tmp_path, monkeypatch):
    """A store of its own for each test: every AppTest of the test opens the same file through the env."""
    monkeypatch.setenv("GRU_VIZ_CACHE_DIR", str(tmp_path))
    yield tmp_path
    st.cache_resource.clear()  # AppTests share one session id: do not leak session-scoped caches


def app(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest, **session: object) -> AppTest:
    for k, v in session.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tally(at: AppTest, question: str) -> list[int]:
    (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith(f"tally_{question}")]
    return spec["data"][0]["x"]


def start_class(teacher: AppTest) -> tuple[str, str]:
    """The teacher presses Start; returns the code and the join link the page shows (and the QR code carries)."""
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class"]
    link = teacher.expander[0].code[0].value  # the class box is the first expander
    assert f"class={code}" in link
    return code, link


def join(link: str, **extra: str) -> AppTest:
    """A student's browser opening the join link."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(link).query))
    return app({**query, **extra})


def ppl_metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_teacher_who_reloads_is_the_teacher_again_in_that_browser_only(classroom_dir, monkeypatch):
    import gru_viz.ui.class_panel as panel

    browser = {"id": "browser:the-teachers-laptop"}  # what state.visitor_id reads from the XSRF cookie
    monkeypatch.setattr(panel, "visitor_id", lambda: browser["id"])
    teacher = app()
    code, _ = start_class(teacher)
    reloaded = app({"class": code})  # a reload: a new session, the class in the address bar
    assert reloaded.expander[0].label == f"Class {code} · you teach"
    assert reloaded.button(key="class_end") is not None
    browser["id"] = "browser:a-students-phone"
    student = app({"class": code})
    assert student.expander[0].label == f"Class {code} · you are in it"
    assert not [b for b in student.button if b.key == "class_end"]
    browser["id"] = "browser:the-teachers-laptop"
    reloaded.button(key="class_end").click().run()  # ended: a later reload finds no class to teach
    assert app({"class": code}).expander[0].label != f"Class {code} · you teach"


def test_a_teacher_and_two_students_the_tally_equals_their_votes(classroom_dir):
    teacher = app()
    code, link = start_class(teacher)
    assert teacher.expander[0].label == f"Class {code} · you teach"
    assert "<svg" in "".join(m.value for m in teacher.markdown)  # the QR code of the join link
    alice, bob = join(link, tab="gates"), join(link, tab="gates")
    for student in (alice, bob):
        assert student.expander[0].label == f"Class {code} · you are in it"
        assert not [t for t in student.toggle if t.key.startswith("w.l1_reveal")]  # the teacher reveals

    # the lesson view: each student's choice and words; a student may change their vote
    alice.text_area(key="w.l1_guess.en").set_value("R and Z both 0, then copy").run()
    alice.radio(key=f"class.{code}.l1.en").set_value("a").run()
    bob.radio(key=f"class.{code}.l1.en").set_value("d").run()
    bob.radio(key=f"class.{code}.l1.en").set_value("b").run()
    bob.radio(key=f"class.{code}.l3.en").set_value("a").run()
    rerun(teacher, tab="gates")
    assert tally(teacher, "l1") == [1, 1, 0, 0] and tally(teacher, "l3") == [1, 0, 0, 0]
    assert tally(teacher, "l2") == [0, 0, 0, 0]
    teacher.toggle(key="class_texts_l1").set_value(True).run()
    assert any("R and Z both 0, then copy" in m.value for m in teacher.markdown)

    # the forcing tab: the results wait for the prediction and the teacher's reveal
    alice = rerun(alice, tab="force", preset="plain_rnn")
    bob = rerun(bob, tab="force", preset="plain_rnn")
    teacher = rerun(teacher, tab="force", preset="plain_rnn")
    for page in (alice, bob, teacher):
        assert "Perplexity, forced" not in ppl_metrics(page)
    alice.radio(key=f"class.{code}.ppl_plain_rnn.en").set_value("up").run()
    bob.radio(key=f"class.{code}.ppl_plain_rnn.en").set_value("same").run()
    teacher.run()
    assert tally(teacher, "ppl_plain_rnn") == [1, 0, 1]
    assert "Students who have answered so far: 2." in "".join(c.value for c in teacher.caption)
    teacher.button(key="class_reveal_ppl_plain_rnn").click().run()
    metrics = ppl_metrics(teacher)
    free, forced = float(metrics["Perplexity, free"]), float(metrics["Perplexity, forced"])
    assert forced > free  # computed on the bundled model: the plain RNN's perplexity goes up
    spec = [json.loads(c.proto.spec) for c in teacher.get("plotly_chart") if "tally_ppl" in c.proto.id][0]
    colors = spec["data"][0]["marker"]["color"]
    assert colors[PPL_CHOICES.index("up")] != colors[PPL_CHOICES.index("same")]  # the right bar stands out
    answer = f"It went up: {free:.2f} → {forced:.2f}."
    assert any(answer in m.value and "(Measured on your text" in m.value for m in teacher.markdown)
    alice.run()  # a student's page picks the reveal up (in a browser its poll reruns it within seconds)
    assert "Perplexity, forced" in ppl_metrics(alice) and any(answer in m.value for m in alice.markdown)
    assert any(c.value == "You predicted: Go up" for c in alice.caption)
    # the plain RNN is chaotic on this model: the browser's own forced number can differ from the server's answer
    assert any(answer in m.value and "chaotic" in m.value and "the teacher's text" in m.value for m in alice.markdown)
    assert not [r for r in alice.radio if r.key.startswith("class.")]  # votes are closed
    assert tally(alice, "ppl_plain_rnn") == [1, 0, 1]

    # only the teacher's session can reveal; ending the class ends it for everyone
    assert not [b for b in alice.button if b.key.startswith("class_reveal")]
    rerun(teacher, tab="gates")
    teacher.button(key="class_end").click().run()
    assert teacher.session_state["class"] == "" and open_store().state(code) is None
    bob.run()
    assert any(f"There is no class {code}" in w.value for w in bob.warning)


def test_the_join_link_joins_and_bad_codes_are_refused_readably(classroom_dir):
    teacher = app({"lang": "zh"})
    code, link = start_class(teacher)
    assert urllib.parse.parse_qs(urllib.parse.urlparse(link).query) == {"class": [code], "lang": ["zh"]}
    student = join(link)
    assert student.expander[0].label == f"课堂 {code} · 你已加入" and student.query_params["class"] == code
    # typed as read off the projector: lower case, a space; the address bar gets the canonical code
    typed = app()
    typed.text_input(key="w.class.en").set_value(f"{code[:3].lower()} {code[3:].lower()}").run()
    assert typed.session_state["class"] == code and typed.expander[0].label.startswith(f"Class {code}")
    # a link with something that is no code is refused by name; a code with no class says so
    bad = app({"class": "<b>x</b>"})
    assert any("class" in c.value for c in bad.caption) and bad.session_state["class"] == ""
    gone = app({"class": "CCCCCC"})
    assert any("There is no class CCCCCC" in w.value for w in gone.warning)
    wrong = app()
    wrong.text_input(key="w.class.en").set_value("[x](javascript:alert(1))").run()
    (warning,) = [w.value for w in wrong.warning]
    assert warning.startswith("That is not a class code") and "javascript" not in warning


def test_typed_answers_reach_the_teacher_escaped_and_capped(classroom_dir):
    teacher = app({"tab": "gates"})
    code, link = start_class(teacher)
    student = join(link, tab="gates")
    student.text_area(key="w.l2_guess.en").set_value(PAYLOAD + " " + "z" * 500).run()
    student.radio(key=f"class.{code}.l2.en").set_value("b").run()
    (stored,) = open_store().tally(code, "l2").texts
    assert len(stored) == MAX_TEXT and stored.startswith(PAYLOAD)
    teacher.run()
    teacher.toggle(key="class_texts_l2").set_value(True).run()
    (shown,) = [m.value for m in teacher.markdown if "evil" in m.value]
    # HTML-escaped inside one HTML block: no tag of the student's, and Markdown does not read inside it
    assert html.escape(stored) in shown and shown.startswith("<ul") and "\n" not in shown
    assert re.sub(r"</?(ul|li)[^>]*>", "", shown) == html.escape(stored)


def test_the_chinese_projector_view_of_a_class(classroom_dir):
    teacher = app({"lang": "zh", "proj": "true", "tab": "force", "preset": "amnesia"})
    code, link = start_class(teacher)
    student = join(link, tab="force", preset="amnesia")
    student.radio(key=f"class.{code}.ppl_amnesia.zh").set_value("down").run()
    teacher.run()
    assert tally(teacher, "ppl_amnesia") == [0, 1, 0]
    spec = [json.loads(c.proto.spec) for c in teacher.get("plotly_chart") if "tally_ppl" in c.proto.id][0]
    assert spec["data"][0]["y"][0] == "上升" and spec["layout"]["font"]["size"] == 20  # readable when projected
    assert any("先预测" in m.value for m in teacher.markdown)


def test_tally_figure_is_valid_and_marks_the_answer_only_when_given():
    fig = tally_figure(["up", "down", "same"], [3, 0, 5], answer=2, title="votes")
    go.Figure(fig.to_dict())  # validates every property
    bar = fig.data[0]
    assert list(bar.x) == [3, 0, 5] and list(bar.text) == ["3", "0", "5"]
    assert bar.marker.color[2] != bar.marker.color[0] == bar.marker.color[1]
    open_bars = tally_figure(["a", "b"], [0, 0]).data[0].marker.color
    assert open_bars[0] == open_bars[1]
    assert all(len(QUESTIONS[q]) >= 3 for q in QUESTIONS)


def test_the_locked_forcing_note_tells_the_teacher_to_reveal_and_a_student_to_wait():
    """Issue 30: the teacher's own page said "…when the teacher reveals the answer"."""
    from gru_viz.ui.live_force import force_data
    from gru_viz.ui.strings import translate
    from gru_viz.ui.view import View

    for lang in ("en", "zh"):
        teacher = force_data(View(lang, True), "server only", "abc", True, 500, teacher=True)["ui"]["locked"]
        student = force_data(View(lang, False), "server only", "abc", True, 500)["ui"]["locked"]
        assert teacher == translate("live_locked_teacher", lang) and student == translate("live_locked", lang)
        assert teacher != student


def test_custom_forcing_waits_in_a_class_until_every_preset_question_is_revealed(classroom_dir):
    """A student could set Custom to R=1, Z=0 (the plain RNN) and read an open question's answer off it."""
    teacher = app()
    code, link = start_class(teacher)
    alice = join(link, tab="force")
    alice = rerun(alice, preset="custom", fr_on=True, fr_val=1.0, fz_on=True, fz_val=0.0)
    assert "Perplexity, forced" not in ppl_metrics(alice)
    assert any("custom forcing opens once the teacher has revealed" in i.value for i in alice.info)
    teacher = rerun(teacher, tab="force", preset="custom", fr_on=True, fr_val=1.0, fz_on=True, fz_val=0.0)
    assert "Perplexity, forced" not in ppl_metrics(teacher)  # the projected page gives nothing away either
    assert any("once you have revealed" in i.value for i in teacher.info)
    for preset in ("plain_rnn", "frozen_memory"):
        teacher = rerun(teacher, preset=preset)
        teacher.button(key=f"class_reveal_ppl_{preset}").click().run()
    alice.run()
    assert "Perplexity, forced" not in ppl_metrics(alice)  # amnesia's question is still open
    assert any("Amnesia" in i.value and "Plain RNN" not in i.value for i in alice.info)
    teacher = rerun(teacher, preset="amnesia")
    teacher.button(key="class_reveal_ppl_amnesia").click().run()
    alice.run()
    assert "Perplexity, forced" in ppl_metrics(alice)
    assert not [i for i in alice.info if "custom forcing opens" in i.value]
