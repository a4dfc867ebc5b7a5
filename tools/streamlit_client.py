"""A Streamlit client without a browser: speaks the app's websocket protocol (BackMsg/ForwardMsg) as a tab does.

Used by tools/loadtest.py. It sends one rerun at a time with the widget states that changed, reads the
ForwardMsgs until the run has finished, and keeps what a tab keeps: widget ids by key, the message cache
(ref_hash), the query string and the fragments' run_every timers. Only the texts and widgets the checks need
are read from the deltas.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections import OrderedDict

import websocket  # websocket-client
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from gru_viz.ui.page_state import widget_prefix  # the page's own key scheme (the load test puts this checkout first)

DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


class ProtocolError(Exception):
    """The conversation with the server broke: a timeout, a closed socket or an unexpected message."""


class StreamlitClient:
    """One browser tab: a websocket session, the widgets it has seen, and what it measured."""

    def __init__(self, port: int, timeout: float, host: str = "127.0.0.1", source: str | None = None,
                 headers: list[str] | tuple[str, ...] = ()):
        """`source`: the local address to connect from (127.0.0.2, … as distinct clients); `headers`: extra
        request headers ("X-Forwarded-For: 203.0.113.9" to test a forged one)."""
        sock = None
        if source is not None:
            sock = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0))
        self.ws = websocket.create_connection(f"ws://{host}:{port}/_stcore/stream", subprotocols=["streamlit"],
                                              timeout=timeout, header=list(headers),
                                              **({"socket": sock} if sock is not None else {}))
        self.timeout, self.url = timeout, f"http://{host}:{port}/"
        self.query, self.page_hash = "", ""
        self.widgets: dict[str, tuple[str, str, object]] = {}  # user key -> (widget id, fragment id, proto)
        self.cache: OrderedDict[str, ForwardMsg] = OrderedDict()  # like the browser's message cache
        self.auto: dict[str, float] = {}  # fragment id -> run_every interval, from auto_rerun messages
        self.errors: list[str] = []
        self.texts: list[str] = []  # texts of the elements drawn by the last request
        self.drawn: set[str] = set()  # keys of the widgets drawn by the last request
        self.tabs_id, self.tab_labels = "", []  # the tabs widget (st.tabs with a key) and its labels
        self.session_id, self.xsrf = "", ""  # the session (from new_session) and the XSRF cookie (from GET /)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket
            self.ws.close(timeout=2)

    # --- one request: send a rerun, read until the run has finished ---------------------------------
    def rerun(self, states: list[WidgetState] = (), fragment: str = "", auto: bool = False) -> float:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string, cs.page_script_hash, cs.fragment_id, cs.is_auto_rerun = (
            self.query, self.page_hash, fragment, auto)
        cs.widget_states.widgets.extend(states)
        ci = cs.context_info  # what a browser reports about itself
        ci.timezone, ci.timezone_offset, ci.locale, ci.url, ci.color_scheme = "UTC", 0, "en-US", self.url, "light"
        cs.cached_message_hashes.extend(self.cache)
        if not fragment:
            self.auto.clear()  # a full run declares its fragments' timers again
        self.texts, self.drawn = [], set()
        t0 = time.monotonic()
        try:
            self.ws.send_binary(msg.SerializeToString())
            while True:
                status = self._read(t0 + self.timeout)
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise ProtocolError("script finished with a compile error")
                if status in DONE:
                    return time.monotonic() - t0
        except websocket.WebSocketTimeoutException:
            raise ProtocolError(f"no script_finished within {self.timeout:.0f} s") from None
        except (websocket.WebSocketException, OSError) as exc:
            raise ProtocolError(f"websocket: {type(exc).__name__}: {exc}") from None

    def stopped_run(self) -> bool:
        """Ask for a run and its stop in one write, as an attacker would: the server announces the session (its id,
        which the upload route needs) when the script starts, and the stop ends the script at its first Streamlit
        call (set_page_config), before any of the app's code. True when that happened: the session id is known and
        nothing of the page was drawn or configured; False when the run got further (or never started)."""
        run, stop = BackMsg(), BackMsg()
        run.rerun_script.query_string, run.rerun_script.page_script_hash = self.query, self.page_hash
        stop.stop_script = True
        drawn = False
        deadline = time.monotonic() + self.timeout
        try:
            self.ws.send_binary(run.SerializeToString())
            self.ws.send_binary(stop.SerializeToString())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.ws.settimeout(min(left, 2.0))
                try:
                    m = self._recv()
                except websocket.WebSocketTimeoutException:
                    if not self.session_id:
                        return False  # stopped before it started: no announcement comes
                    continue
                kind = m.WhichOneof("type")
                drawn |= kind in ("delta", "page_config_changed")
                self._handle(m)
                if kind == "script_finished":
                    return bool(self.session_id) and not drawn
        except (websocket.WebSocketException, OSError) as exc:
            raise ProtocolError(f"websocket: {type(exc).__name__}: {exc}") from None

    def idle(self, until: float) -> None:
        """Wait like an open tab: keep reading (and answering pings) without sending anything."""
        while (left := until - time.monotonic()) > 0:
            self.ws.settimeout(min(left, 1.0))
            try:
                self._handle(self._recv())
            except websocket.WebSocketTimeoutException:
                pass
            except (websocket.WebSocketException, OSError) as exc:
                raise ProtocolError(f"websocket while idle: {exc}") from None

    def _recv(self) -> ForwardMsg:
        data = self.ws.recv()
        if not data:  # websocket-client returns '' when the server closed the connection
            raise ProtocolError("the server closed the connection")
        if isinstance(data, str):
            raise ProtocolError("text frame from the server")
        m = ForwardMsg()
        m.ParseFromString(data)
        return m

    def _read(self, deadline: float) -> int | None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise websocket.WebSocketTimeoutException()
        self.ws.settimeout(left)
        return self._handle(self._recv())

    def _handle(self, m: ForwardMsg) -> int | None:
        kind = m.WhichOneof("type")
        if kind == "ref_hash":  # the server re-sent a large element we reported as cached
            if m.ref_hash not in self.cache:
                raise ProtocolError("reference to a message this client never cached")
            self.cache.move_to_end(m.ref_hash)
            m = self.cache[m.ref_hash]
            kind = "delta"
        elif m.metadata.cacheable:
            self.cache[m.hash] = m
            while len(self.cache) > 40:
                self.cache.popitem(last=False)
        if kind == "delta":
            self._delta(m)
        elif kind == "script_finished":
            if m.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.auto.clear()  # st.rerun(): the full run that follows declares the timers again
            return m.script_finished
        elif kind == "new_session":
            self.page_hash = m.new_session.page_script_hash or self.page_hash
            self.session_id = m.new_session.initialize.session_id or self.session_id
        elif kind == "page_info_changed":
            self.query = m.page_info_changed.query_string
        elif kind == "auto_rerun":
            self.auto[m.auto_rerun.fragment_id] = m.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for f in m.stop_auto_rerun.fragment_ids:
                self.auto.pop(f, None)
        elif kind == "session_event" and m.session_event.WhichOneof("type") == "script_compilation_exception":
            self.errors.append("script compilation exception")
        return None

    def _delta(self, m: ForwardMsg) -> None:
        if m.delta.WhichOneof("type") == "add_block":  # the tabs are a widget drawn as blocks
            block = m.delta.add_block
            if block.WhichOneof("type") == "tab_container" and block.tab_container.id:
                self.tabs_id, self.tab_labels = block.tab_container.id, []
            elif block.WhichOneof("type") == "tab":
                self.tab_labels.append(block.tab.label)
            return
        if m.delta.WhichOneof("type") != "new_element":
            return
        el = m.delta.new_element
        kind = el.WhichOneof("type")
        if kind == "exception":
            self.errors.append(f"exception shown: {el.exception.type}: {el.exception.message[:200]}")
        elif kind == "alert":
            self.texts.append(el.alert.body)
            if el.alert.format == Alert.ERROR:
                self.errors.append(f"error shown: {el.alert.body[:200]}")
        elif kind == "markdown":
            self.texts.append(el.markdown.body)
        elif kind == "progress":
            self.texts.append(el.progress.text)
        else:
            proto = getattr(el, kind)
            wid = getattr(proto, "id", "")
            if isinstance(wid, str) and wid.startswith("$$ID-"):  # $$ID-<hash>-<user key or None>
                self.widgets.pop(wid.split("-", 2)[2], None)  # drawn last, found first (widget())
                self.widgets[wid.split("-", 2)[2]] = (wid, m.delta.fragment_id, proto)
                self.drawn.add(wid.split("-", 2)[2])

    # --- what a visitor does --------------------------------------------------------------------------
    def widget(self, key: str) -> tuple[str, str, object]:
        """(id, fragment id, proto) of the widget with this key, or of a setting's widget w.<key>.<lang>[.<hash of
        its options>]: the one drawn most recently (a chooser whose options changed, a new run listed, is a new
        widget; the old one stays in `widgets`, and was found first: tools/flood.py never saw its runs listed)."""
        for k in (key, *reversed([k for k in self.widgets if k.startswith(widget_prefix(key))])):
            if k in self.widgets:
                return self.widgets[k]
        raise ProtocolError(f"widget {key!r} not on the page")

    def _state(self, key: str) -> tuple[WidgetState, str]:
        wid, fragment, _ = self.widget(key)
        return WidgetState(id=wid), fragment

    def press(self, key: str) -> float:
        s, fragment = self._state(key)
        s.trigger_value = True
        return self.rerun([s], fragment)

    def set_number(self, key: str, value: int) -> float:
        s, fragment = self._state(key)
        s.int_value = value
        return self.rerun([s], fragment)

    def set_slider(self, key: str, value: float) -> float:
        s, fragment = self._state(key)
        s.double_array_value.data.append(value)
        return self.rerun([s], fragment)

    def set_json(self, key: str, value: object) -> float:
        """A custom component's state (the in-browser scrubber reports {"view": {"step", "unit"}} this way)."""
        s, fragment = self._state(key)
        s.json_value = json.dumps(value)
        return self.rerun([s], fragment)

    def set_text(self, key: str, value: str) -> float:
        s, fragment = self._state(key)
        s.string_value = value
        return self.rerun([s], fragment)

    def put_file(self, name: str, data: bytes, file_id: str | None = None) -> tuple[int, str]:
        """PUT a file to the upload route as a tab does (multipart, this session, the XSRF cookie and header);
        returns (HTTP status, file id). The widget sees it only once `set_upload` names it."""
        import urllib.error
        import urllib.request
        import uuid

        if not self.xsrf:
            # the health route sets the cookie, as for a tab
            with urllib.request.urlopen(f"{self.url}_stcore/health", timeout=self.timeout) as r:  # noqa: S310
                cookie = next((c for c in r.headers.get_all("Set-Cookie") or [] if c.startswith("_streamlit_xsrf=")),
                              "")
            self.xsrf = cookie.split(";", 1)[0].split("=", 1)[1] if cookie else ""
        file_id = file_id or str(uuid.uuid4())
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": self.xsrf,
                   "Cookie": f"_streamlit_xsrf={self.xsrf}"}
        url = f"{self.url}_stcore/upload_file/{self.session_id}/{file_id}"  # http://127.0.0.1:port/ only
        req = urllib.request.Request(url, data=body, method="PUT", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:  # noqa: S310 (127.0.0.1 only)
                return r.status, file_id
        except urllib.error.HTTPError as exc:
            return exc.code, file_id

    def set_upload(self, key: str, name: str, size: int, file_id: str) -> float:
        """The uploader widget `key` now holds the file PUT as `file_id` (what the browser reports after a PUT)."""
        s, fragment = self._state(key)
        info = s.file_uploader_state_value.uploaded_file_info.add()
        info.name, info.size, info.file_id = name, size, file_id
        return self.rerun([s], fragment)

    def set_radio(self, key: str, index: int) -> float:
        s, fragment = self._state(key)
        s.string_value = self.widget(key)[2].options[index]  # radios send the shown option text
        return self.rerun([s], fragment)

    def text(self, pattern: re.Pattern | str) -> re.Match | str | None:
        for t in self.texts:
            if isinstance(pattern, str):
                if pattern in t:
                    return t
            elif m := pattern.search(t):
                return m
        return None
