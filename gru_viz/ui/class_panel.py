"""Class mode on the page: start or join a class (the bar under the title), the teacher's code and QR code, and
this session's membership (`current`), which class_questions.py's hooks read.

Not a tab: app.py draws the bar; this module imports no tab.
"""

from __future__ import annotations

import functools
import secrets
import urllib.parse
from dataclasses import dataclass

import streamlit as st

from gru_viz.serve import classroom
from gru_viz.serve.class_terms import ClassError, ClassState, normalize_code
from gru_viz.serve.classroom import IDLE_SECONDS, MAX_VOTERS, VOTERS_PER_NETWORK
from gru_viz.serve.ratelimit import ClassLimits
from gru_viz.serve.teachers import Teachers
from gru_viz.ui import page_state as ps
from gru_viz.ui.state import client_network as network
from gru_viz.ui.state import visitor_id
from gru_viz.ui.view import View, md_escape

STUDENT_POLL_S = 4.0  # a student's page looks this often for an answer the teacher revealed


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
    code = normalize_code(raw)
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
    # The SVG is segno's (modules only, no text of anyone's); the code is of class_terms.ALPHABET: safe as HTML.
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
