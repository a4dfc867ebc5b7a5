"""Class mode's questions: a student's vote (a choice, and words for the lessons), the teacher's live tally and
reveal, and the hooks through which the lesson view (tabs/gates.py) and the forcing tab (tabs/force.py) ask
them. The membership they read (`current`) is class_panel's.
"""

from __future__ import annotations

import html

import streamlit as st

from gru_viz.nets.model import PRESETS
from gru_viz.serve.class_terms import LESSON_CHOICES, PPL_CHOICES, QUESTIONS, ClassError, Tally, clean_text, ppl_answer
from gru_viz.ui import page_state as ps
from gru_viz.ui.class_panel import Member, current, error_text, store, voter_id
from gru_viz.ui.state import client_network as network
from gru_viz.ui.view import View
from gru_viz.views.figures import columns, tally_figure

TEACHER_POLL_S = 2.0  # the teacher's tallies refresh this often
SHOWN_TEXTS = 12  # written answers listed under a tally, newest first
LESSON_ANSWERS = {"l1": "a", "l3": "a"}  # the choices l1_a and l3_a say are right; l2 and l4 have none


# --- questions: a student's vote, the teacher's tally ------------------------------------------------------------


def _choose(view: View, member: Member, question: str, labels: dict[str, str]) -> tuple[str | None, tuple | None]:
    """The student's choice (a radio that starts from their stored vote) and their stored (choice, words)."""
    mine = store().my_vote(member.code, question, voter_id())
    choices = list(QUESTIONS[question])
    choice = st.radio(view.t("class_your_answer"), choices, index=choices.index(mine[0]) if mine else None,
                      format_func=labels.get, key=f"class.{member.code}.{question}.{view.lang}",
                      disabled=question in member.state.revealed)
    return choice, mine


def _send(view: View, member: Member, question: str, choice: str | None, mine: tuple | None, text: str = "") -> None:
    """Send the vote whenever the choice or the written words changed (once chosen, until the answer is shown)."""
    if choice is None or question in member.state.revealed:
        return
    if mine != (choice, clean_text(text)):
        try:
            store().vote(member.code, question, voter_id(), choice, text, network=network())
        except ClassError as exc:
            st.warning(error_text(view, exc, member.code))
            return
    st.caption(view.t("class_sent"))


def _wrap(label: str, width: int) -> str:
    """A bar label broken into lines of about `width` columns, at spaces or, in Chinese, between characters."""
    words = label.split(" ") if " " in label else list(label)
    joint = " " if " " in label else ""
    lines, line = [], ""
    for word in words:
        if line and columns(line) + columns(word) + len(joint) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line}{joint}{word}" if line else word
    return "<br>".join([*lines, line])


def _tally_chart(view: View, member: Member, question: str, labels: dict[str, str], answer: str | None,
                 key: str) -> Tally | None:
    try:
        tally = store().tally(member.code, question)
    except ClassError as exc:
        st.warning(error_text(view, exc, member.code))
        return None
    choices = QUESTIONS[question]
    shown = answer if tally.revealed and answer in choices else None
    fig = tally_figure([_wrap(labels[c], 26) for c in choices], [tally.counts[c] for c in choices],
                       answer=None if shown is None else choices.index(shown), font_size=view.font,
                       height=view.height(50 + 46 * len(choices)), title=view.t("class_tally_title", n=tally.total))
    st.plotly_chart(fig, key=key, config={"displaylogo": False, "displayModeBar": False})
    return tally


def _teacher_tally(view: View, member: Member, question: str, labels: dict[str, str], answer: str | None,
                   answer_md: str, numbers: dict | None = None) -> None:
    """The live tally beside the reveal button and, once revealed, the answer (redrawn every TEACHER_POLL_S)."""
    store().touch(member.code)  # the teacher's open page keeps the class alive (classroom.IDLE_SECONDS)
    chart, side = st.columns([3, 2])
    with chart:
        tally = _tally_chart(view, member, question, labels, answer, key=f"tally_{question}")
    if tally is None:
        return
    if side.button(view.t("class_hide" if tally.revealed else "class_reveal"), key=f"class_reveal_{question}",
                   type="secondary" if tally.revealed else "primary"):
        try:
            store().reveal(member.code, member.token, question, not tally.revealed, numbers=numbers)
        except ClassError as exc:
            side.warning(error_text(view, exc, member.code))
            return
        st.rerun()  # the whole page: what the answer unlocks (the forcing's results) appears with it
    if tally.revealed:
        side.markdown(f"**{view.t('class_answer')}** {answer_md}")
        if answer is None:
            side.caption(view.t("class_no_single"))
    if question in LESSON_CHOICES and side.toggle(view.t("class_show_texts"),
                                                             key=f"class_texts_{question}"):
        side.markdown(written_html(tally.texts[:SHOWN_TEXTS]) if tally.texts else view.t("class_no_texts"),
                      unsafe_allow_html=True)


def written_html(texts: list[str]) -> str:
    """Students' words as a list, inert: HTML-escaped inside one HTML block, which Markdown leaves alone (escaping
    for Markdown is not enough: GitHub-flavoured Markdown still links a bare https://… or www.… address)."""
    items = "".join(f'<li style="margin:0">{html.escape(" ".join(t.split()))}</li>' for t in texts)
    return f'<ul style="margin:0;padding-left:1.2em;overflow-wrap:anywhere">{items}</ul>'


# --- the hooks -------------------------------------------------------------------------------------------------


def lesson_choice(view: View, name: str) -> bool:
    """In a class, a student's choice for lesson `name` and their words, sent to the teacher; the teacher sees
    nothing here (their tally comes with lesson_answer). Returns False outside a class (the lesson draws its own)."""
    member = current()
    if member is None:
        return False
    if not member.teacher:
        labels = {c: view.t(f"{name}_c_{c}") for c in QUESTIONS[name]}
        choice, mine = _choose(view, member, name, labels)
        text = ps.widget(st.text_area, view.t("g_predict_class"), f"{name}_guess", lang=view.lang, height=68,
                         disabled=name in member.state.revealed)
        _send(view, member, name, choice, mine, str(text or ""))
    return True


def lesson_answer(view: View, name: str, answer: str | None = None) -> None:
    """In a class: the teacher's live tally and reveal button, or for a student the answer once revealed
    (`answer`, when the lesson computes it from what was measured; else the lesson's text)."""
    member = current()
    if member is None:
        return
    labels = {c: view.t(f"{name}_c_{c}") for c in QUESTIONS[name]}
    answer_md = answer or view.t(f"{name}_a")
    if member.teacher:
        st.fragment(run_every=TEACHER_POLL_S)(_teacher_tally)(view, member, name, labels, LESSON_ANSWERS.get(name),
                                                              answer_md)
    elif name in member.state.revealed:
        st.markdown(f"**{view.t('class_answer')}** {answer_md}")
        with st.columns([3, 2])[0]:
            _tally_chart(view, member, name, labels, LESSON_ANSWERS.get(name), key=f"tally_{name}")
    else:
        st.caption(view.t("class_wait"))


def forcing_question(view: View, preset: str, free_ppl: float, forced_ppl: float, text: str = "") -> bool:
    """In a class, before a forcing preset's results: "what will the perplexity do?" (a student's vote, the
    teacher's tally). Returns whether the results may be shown: outside a class, for the free and custom
    settings, and once the teacher revealed the answer.

    The answer is the teacher's: the numbers measured on the teacher's page (model and probe `text`) are stored
    with the reveal, so the projector and every phone show the same numbers, said with the text they were
    measured on."""
    member, question = current(), f"ppl_{preset}"
    if member is not None and preset == "custom":
        # a custom forcing can be set to any preset's gates (R=1, Z=0 is the plain RNN): it opens once the
        # presets' answers are out, or a student could read an open question's answer off it
        waiting = [p for p in PRESETS if f"ppl_{p}" in QUESTIONS and f"ppl_{p}" not in member.state.revealed]
        if waiting:
            names = ", ".join(view.t(f"preset_{p}") for p in waiting)
            st.info(view.t("ppl_custom_waits_teacher" if member.teacher else "ppl_custom_waits", presets=names))
            return False
    if member is None or question not in QUESTIONS:
        return True
    labels = {c: view.t(f"ppl_c_{c}") for c in PPL_CHOICES}
    revealed = question in member.state.revealed
    stored = store().answer_numbers(member.code, question) if revealed else None
    mine = {"free": free_ppl, "forced": forced_ppl, "text": text}
    numbers = stored if _valid_numbers(stored) else mine
    answer = ppl_answer(float(numbers["free"]), float(numbers["forced"]))
    answer_md = view.t(f"ppl_ans_{answer}", free=float(numbers["free"]), forced=float(numbers["forced"]))
    on = "ppl_ans_on_teacher" if member.teacher else "ppl_ans_on"  # the teacher's page: "your text"
    answer_md += " " + view.t(on, n=len(str(numbers["text"])))
    if preset == "plain_rnn":  # chaotic here (docs: float32 and float64 part after a few hundred steps)
        answer_md += " " + view.t("ppl_ans_chaotic")
    with st.container(border=True):
        st.markdown(f"**{view.t('ppl_question', preset=view.t(f'preset_{preset}'))}**")
        if member.teacher:
            st.fragment(run_every=TEACHER_POLL_S)(_teacher_tally)(view, member, question, labels, answer, answer_md,
                                                                  mine)
            if not revealed:
                st.caption(view.t("ppl_wait_teacher"))
        elif revealed:
            vote = store().my_vote(member.code, question, voter_id())
            if vote:
                st.caption(view.t("class_you_said", choice=labels[vote[0]]))
            st.markdown(f"**{view.t('class_answer')}** {answer_md}")
            st.text(str(numbers["text"]))  # the teacher's text, inert
            with st.columns([3, 2])[0]:
                _tally_chart(view, member, question, labels, answer, key=f"tally_{question}")
        else:
            choice, vote = _choose(view, member, question, labels)
            _send(view, member, question, choice, vote)
            st.caption(view.t("ppl_wait_student"))
    return revealed


def _valid_numbers(numbers: object) -> bool:
    """Stored numbers as forcing_question writes them (an older or damaged row is ignored)."""
    return (isinstance(numbers, dict) and isinstance(numbers.get("text"), str)
            and all(isinstance(numbers.get(k), (int, float)) for k in ("free", "forced")))
