"""Class mode on the page: start or join a class (the bar under the title), the teacher's code and QR code, and
the hooks through which the lesson view and the forcing tab send predictions and show the live tally.

Not a tab: app.py draws the bar, tabs/gates.py and tabs/force.py call the hooks; this module imports no tab.
"""

from __future__ import annotations

import functools
import html
import secrets
import urllib.parse
from dataclasses import dataclass

import streamlit as st

from gru_viz.figures import tally_figure
from gru_viz.serve import classroom
from gru_viz.serve.classroom import (
    IDLE_SECONDS,
    MAX_VOTERS,
    PPL_CHOICES,
    QUESTIONS,
    VOTERS_PER_NETWORK,
    ClassError,
    ClassState,
    ppl_answer,
)
from gru_viz.serve.ratelimit import ClassLimits
from gru_viz.serve.teachers import Teachers
from gru_viz.ui import page_state as ps
from gru_viz.ui.state import client_network as network
from gru_viz.ui.state import visitor_id
from gru_viz.ui.view import View, md_escape

TEACHER_POLL_S = 2.0  # the teacher's tallies refresh this often
STUDENT_POLL_S = 4.0  # a student's page looks this often for an answer the teacher revealed
SHOWN_TEXTS = 12  # written answers listed under a tally, newest first
LESSON_ANSWERS = {"l1": "a", "l3": "a"}  # the choices l1_a and l3_a say are right; l2 and l4 have none


@dataclass(frozen=True)
class Member:
    """This session in a class: its code, the teacher's token when this session started it, the class's state."""

    code: str
    token: str | None
    state: ClassState

    @property
    def teacher(self) -> bool:
        return self.token is not None


def store() -> classroom.ClassStore:
    return classroom.open_store()


@st.cache_resource(show_spinner=False)
def _teachers() -> Teachers:
    """Class code -> (the teacher's browser, the teacher's token), for this server's life: a teacher who reloads
    the page (a new session) is the teacher again in that browser, and only there. Browsers are told apart by
    their XSRF cookie (`state.visitor_id`); without it (tests, XSRF protection off) nothing is remembered."""
    return Teachers()


@st.cache_resource(show_spinner=False)
def _limits() -> ClassLimits:
    """Starting and joining classes, per session and per network (docs/DEPLOY.md, "Which address is a client's")."""
    return ClassLimits()


def session_key() -> str:
    """This session (a page load): its own random id, kept in its state."""
    if not ps.get("_class_session"):
        ps.put("_class_session", secrets.token_hex(12))
    return str(ps.get("_class_session"))


def current() -> Member | None:
    """The class this page run belongs to (read once per run by class_bar)."""
    return ps.get("_class_now")  # type: ignore[return-value]


def voter_id() -> str:
    """The browser (its XSRF cookie, shared by its tabs) or, without the cookie, this session: one vote each."""
    visitor = visitor_id()
    if visitor.startswith("browser:"):
        return visitor
    if ps.get("_class_voter") is None:
        ps.put("_class_voter", "session:" + secrets.token_hex(12))
    return str(ps.get("_class_voter"))


def join_link(view: View, code: str) -> str:
    """The page's address with only the class (and the teacher's language): what the QR code carries."""
    base = (st.context.url or "").split("?")[0]
    if base and not urllib.parse.urlsplit(base).path:
        base += "/"  # http://host:8501/?class=… as a browser writes it
    params = {"class": code, **({"lang": view.lang} if view.lang != "en" else {})}
    return f"{base}?{urllib.parse.urlencode(params)}"


@functools.lru_cache(maxsize=64)
def qr_svg(link: str) -> str:
    """The link as a QR code in SVG (segno, pure Python; no network), black on white, scaled by its box."""
    import segno

    return segno.make(link, error="m").svg_inline(scale=10, border=2, dark="#000", light="#fff", omitsize=True)


def error_text(view: View, exc: ClassError, code: str = "") -> str:
    key = f"class_err_{exc.reason}"
    if key in ("class_err_no_class", "class_err_full", "class_err_too_many", "class_err_revealed",
               "class_err_not_teacher", "class_err_full_network", "class_err_slow_start", "class_err_slow_join"):
        return view.t(key, code=code, n=MAX_VOTERS, per_network=VOTERS_PER_NETWORK, idle=IDLE_SECONDS // 60)
    return view.t("class_err_other", message=md_escape(str(exc)))


# --- the bar under the title ------------------------------------------------------------------------------------


def _start() -> None:
    try:
        if not _limits().may_start(session_key(), network()):
            raise ClassError("slow_start", "too many classes started from here in the last minutes")
        code, token = store().create()
    except ClassError as exc:
        ps.put("_class_error", exc)
        return
    ps.put("_class_teacher", (code, token))
    ps.put("_settings_open", False)  # on a projector the class box moves out of the Settings: close them over it
    ps.put("_class_joined", code)  # a teacher is in their own class without a join counted
    visitor = visitor_id()
    if visitor.startswith("browser:"):  # classes that ended or expired are forgotten on the way
        _teachers().remember(code, visitor, token, alive=lambda c: store().state(c) is not None)
    ps.put("class", code)


def _end(code: str, token: str) -> None:
    try:
        store().close(code, token)
    except ClassError:
        pass  # already gone (a day old): leaving is what was asked
    ps.drop("_class_teacher")
    _teachers().forget(code)
    ps.put("class", "")


def class_bar(view: View) -> Member | None:
    """The class expander under the title: join or start a class, or the class this page is in. Sets current()."""
    ps.put("_class_now", None)  # should anything below fail, the tabs run as outside a class
    raw = str(ps.get("class") or "")
    code = classroom.normalize_code(raw)
    problem, member = "", None
    if raw and code is None:
        problem = view.t("class_bad_code")  # what was typed is not repeated: nothing of it can render as a link
    elif code:
        state = store().state(code)
        if state is None:
            problem = view.t("class_err_no_class", code=code, idle=IDLE_SECONDS // 60)
        elif ps.get("_class_joined") != code and not _limits().may_join(session_key(), network()):
            problem = view.t("class_err_slow_join")  # many joins from one network: a flood, or wait a minute
        else:
            ps.put("_class_joined", code)
            if raw != code:
                ps.put("class", code)  # the canonical code in the address bar
            teacher = ps.get("_class_teacher")
            owner = _teachers().owner(code)
            if (teacher is None or teacher[0] != code) and owner is not None and owner[0] == visitor_id():
                teacher = (code, owner[1])  # the teacher reloaded the page
                ps.put("_class_teacher", teacher)
            member = Member(code, teacher[1] if teacher and teacher[0] == code else None, state)
    ps.put("_class_now", member)
    error = ps.get("_class_error")
    ps.drop("_class_error")
    if member is None:
        label = view.t("class_title")
    else:
        # no changing count in the label: a new label is a new expander, which would open again on every vote
        label = view.t("class_teacher_label" if member.teacher else "class_student_label", code=member.code)
    with st.expander(label, expanded=bool(problem or error or (member and member.teacher)), icon=":material/groups:"):
        if problem:
            st.warning(problem)
        if error is not None:
            st.error(error_text(view, error))
        if member is None:
            _join_or_start(view)
        elif member.teacher:
            _teacher_box(view, member)
        else:
            st.markdown(view.t("class_student_info", code=member.code))
            st.button(view.t("class_leave"), key="class_leave", on_click=ps.put, args=("class", ""))
            st.fragment(run_every=STUDENT_POLL_S)(_watch)(member.code, member.state.revealed)
    return member


def _join_or_start(view: View) -> None:
    left, right = st.columns(2)
    ps.widget(left.text_input, view.t("class_join"), "class", lang=view.lang, max_chars=16, placeholder="ACD346",
              help=view.t("class_join_help"))
    # no help= tooltip: projector mode hides tooltip icons, and a button with help sits inside one
    right.button(view.t("class_start"), key="class_start", on_click=_start)
    right.caption(view.t("class_start_help"))


def _teacher_box(view: View, member: Member) -> None:
    store().touch(member.code)
    link = join_link(view, member.code)
    qr, info = st.columns([1, 2] if view.projector else [1, 3])
    # The SVG is segno's (modules only, no text of anyone's); the code is of classroom.ALPHABET: safe as HTML.
    qr.markdown(f'<div style="max-width:{360 if view.projector else 240}px;background:#fff">{qr_svg(link)}</div>',
                unsafe_allow_html=True)
    info.caption(view.t("class_code"))
    info.markdown(f'<div style="font-family:monospace;font-size:{4.2 if view.projector else 3}rem;font-weight:700;'
                  f'letter-spacing:0.15em;line-height:1.1">{member.code}</div>', unsafe_allow_html=True)
    info.markdown(view.t("class_scan"))
    info.code(link, language=None, wrap_lines=True)
    info.caption(view.t("class_voters", n=member.state.voters))
    info.button(view.t("class_end"), key="class_end", on_click=_end, args=(member.code, member.token))
    info.caption(view.t("class_reload"))


def _watch(code: str, seen: frozenset[str]) -> None:
    """A student's page reruns when the teacher reveals or hides an answer, or ends the class."""
    store().touch(code)  # a class with students' pages open is in use, votes or not
    state = store().state(code)
    if state is None or state.revealed != seen:
        st.rerun()


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
    if mine != (choice, classroom.clean_text(text)):
        try:
            store().vote(member.code, question, voter_id(), choice, text, network=network())
        except ClassError as exc:
            st.warning(error_text(view, exc, member.code))
            return
    st.caption(view.t("class_sent"))


def _columns(text: str) -> int:
    """Printed width: a Chinese character takes two columns."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


def _wrap(label: str, width: int) -> str:
    """A bar label broken into lines of about `width` columns, at spaces or, in Chinese, between characters."""
    words = label.split(" ") if " " in label else list(label)
    joint = " " if " " in label else ""
    lines, line = [], ""
    for word in words:
        if line and _columns(line) + _columns(word) + len(joint) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line}{joint}{word}" if line else word
    return "<br>".join([*lines, line])


def _tally_chart(view: View, member: Member, question: str, labels: dict[str, str], answer: str | None,
                 key: str) -> classroom.Tally | None:
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
    if question in classroom.LESSON_CHOICES and side.toggle(view.t("class_show_texts"),
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
    if member is None or question not in QUESTIONS:
        return True
    labels = {c: view.t(f"ppl_c_{c}") for c in PPL_CHOICES}
    revealed = question in member.state.revealed
    stored = store().answer_numbers(member.code, question) if revealed else None
    mine = {"free": free_ppl, "forced": forced_ppl, "text": text}
    numbers = stored if _valid_numbers(stored) else mine
    answer = ppl_answer(float(numbers["free"]), float(numbers["forced"]))
    answer_md = view.t(f"ppl_ans_{answer}", free=float(numbers["free"]), forced=float(numbers["forced"]))
    answer_md += " " + view.t("ppl_ans_on", n=len(str(numbers["text"])))
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
