"""One simulated visitor of the load test (tools/loadtest.py): a Streamlit protocol client that opens tabs, scrubs,
changes the forcing preset and trains as a person would, checking each answer against the page's own texts and
keys; and the results every visitor records."""

from __future__ import annotations

import json
import math
import random
import re
import sys
import threading
import time

from app_server import HOST, ROOT
from streamlit.proto.WidgetStates_pb2 import WidgetState

sys.path.insert(0, str(ROOT))  # the app of this checkout, whichever one the environment has installed
from streamlit_client import ProtocolError, StreamlitClient  # noqa: E402

from gru_viz.nets.model import PRESETS  # noqa: E402 (after the path: the page's own names, texts and keys)
from gru_viz.ui.actions import describe_forcing  # noqa: E402
from gru_viz.ui.i18n.en import EN  # noqa: E402
from gru_viz.ui.page_state import PRESET_KEYS, widget_prefix  # noqa: E402
from gru_viz.ui.tabs import TABS  # noqa: E402
from gru_viz.ui.view import View  # noqa: E402

# what each preset shows: the force tab's heading over the forced continuation, the scrubber's note (None: none)
PRESET_DESCRIBED = {k: describe_forcing(View("en"), f) for k, f in PRESETS.items()}


def _before_field(key: str) -> str:
    """An English text of the page up to its first {field}: what a status line starts with."""
    return EN[key].split("{")[0]


FORCED_NOTE = _before_field("forced_note")
# a widget each tab draws, to check that a tab switch really drew the tab (the scrubber component, a button)
# (② draws the preset radio when it runs on the server, its browser half "live_force" otherwise)
TAB_MARK = {"scrub": ("scrubber",), "force": (widget_prefix("preset"), "live_force"), "train": ("btn_start",),
            "gates": (widget_prefix("g_target"),)}
QUEUED_TEXT = _before_field("status_queued")
FINISHED_RX = re.compile(re.escape(EN["status_finished"]).replace(re.escape("{epoch}"), r"(\d+)"))
STOPPED_TEXT = _before_field("status_stopped")  # with or without a reason


class Visitor(StreamlitClient):
    """A visitor of this app: the client, plus which of the app's tabs is open."""

    def __init__(self, port: int, timeout: float):
        super().__init__(port, timeout, HOST)
        self.tab = "scrub"  # the page opens on the scrubber

    def open_tab(self, name: str) -> float | None:
        """Click a tab (the page reruns with only that tab drawn); None when it is already open."""
        if name == self.tab:
            return None
        if len(self.tab_labels) != len(TABS) or not self.tabs_id:
            raise ProtocolError("no tabs on the page")
        index = list(TABS).index(name)  # the page's tabs in its order
        seconds = self.rerun([WidgetState(id=self.tabs_id, string_value=self.tab_labels[index])])
        if not any(k.startswith(TAB_MARK[name]) for k in self.drawn):  # str.startswith takes a tuple
            self.errors.append(f"tab {name}: the page did not draw {TAB_MARK[name]!r}")
        self.tab = name
        return seconds


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p * len(v)) - 1)]


def summary(values: list[float]) -> dict:
    return {"count": len(values), "p50_s": percentile(values, 0.5), "p95_s": percentile(values, 0.95),
            "max_s": max(values) if values else None}


class Results:
    """Everything the visitors record, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.skipped = 0
        self.loaded = 0
        self.runs: list[dict] = []

    def time(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.times.setdefault(kind, []).append(seconds)

    def error(self, who: int, text: str) -> None:
        with self.lock:
            self.errors.append(f"visitor {who}: {text}")


def plan_for(i: int, trainer: bool, args, rng: random.Random) -> list[str]:
    """Settled scrub steps with preset changes mixed in; trainers set up a run first.

    Preset changes alternate between the force tab's radio ("radio:…") and the scrubber's number keys
    ("keys:…"), the two ways the page offers."""
    plan = ["settle"] * args.steps
    for k in range(args.presets):  # plain RNN, frozen memory, amnesia, back to free, …: each one a change
        how = "radio" if (i + k) % 2 == 0 else "keys"
        plan.insert(rng.randint(0, len(plan)), f"{how}:{['plain_rnn', 'frozen_memory', 'amnesia', 'free'][k % 4]}")
    return ["hidden", "epochs", "start", *plan] if trainer else plan


def switch(v: Visitor, tab: str, res: Results) -> None:
    seconds = v.open_tab(tab)
    if seconds is not None:
        res.time("tab switch", seconds)


def act(v: Visitor, action: str, state: dict, res: Results, rng: random.Random) -> None:
    """One interaction, timed from sending the change to the end of the run it causes. Like a person, the
    visitor first opens the tab the interaction is on (timed separately, as a tab switch)."""
    last = state["steps"] - 1
    how, _, preset = action.partition(":")
    if action == "settle":  # the browser stepped (no traffic) and settles on a step: one fragment rerun
        switch(v, "scrub", res)
        expected = rng.randint(1, last)
        res.time("scrub: settled step", v.set_json("scrubber", {"view": {"step": expected, "unit": state["unit"]}}))
    elif how == "radio":  # ②'s preset: its radio (② on the server) or its browser half's button
        switch(v, "force", res)
        if "live_force" in v.widgets:
            # answered in the browser; the settled setting is one rerun, recorded in the address bar (the forced
            # results are the browser's, so there is no heading to check)
            data = json.loads(v.widget("live_force")[2].json)
            setting = {**data["setting"], "preset": preset, "version": 1, "probe": data["probe"]}
            res.time("forcing: ② preset (settled)", v.set_json("live_force", {"setting": setting}))
            if (f"preset={preset}" in v.query.split("&")) != (preset != "free"):
                v.errors.append(f"preset {preset}: the address bar has {v.query!r}")
            return
        res.time("forcing: preset radio", v.set_radio("preset", PRESET_KEYS.index(preset)))
        heading = View("en").t("cont_forced", what=PRESET_DESCRIBED[preset])
        if v.text(heading) is None:
            v.errors.append(f"preset {preset}: the force tab did not show {heading!r}")
        return
    elif how == "keys":  # the scrubber's preset buttons (number keys 1-4)
        switch(v, "scrub", res)
        res.time("forcing: scrubber keys", v.press(f"k_{preset}"))
        note = v.text(FORCED_NOTE)
        shown = note is not None and View("en").t("forced_note", what=PRESET_DESCRIBED[preset]) in note
        if shown != (preset != "free"):
            v.errors.append(f"preset {preset}: the scrubber showed {note!r}")
        return
    elif action in ("hidden", "epochs"):  # in the sidebar, on whatever tab is open
        res.time("training settings", v.set_number(action, state[action]))
        return
    else:  # start
        switch(v, "train", res)
        res.time("training start", v.press("btn_start"))
        return
    if f"step={expected}" not in v.query.split("&"):  # the address bar must follow the settled step
        v.errors.append(f"{action}: expected step={expected} in the URL, it has {v.query!r}")
    state["step"] = expected


def check_run(v: Visitor, run: dict) -> None:
    """Read the training status the last request drew."""
    queued = v.text(QUEUED_TEXT) is not None
    run["queued_message"] |= queued
    run["now"] = "queued" if queued else "running"
    if m := v.text(FINISHED_RX):
        run["outcome"], run["epochs"] = "finished", int(m.group(1))
        run["seconds"] = round(time.monotonic() - run["t0"], 1)
    elif t := v.text(STOPPED_TEXT):
        run["outcome"] = f"stopped: {t[:120]}"


def run_visitor(i: int, trainer: bool, args, port: int, start_at: float, end_at: float, res: Results) -> None:
    rng = random.Random(args.seed * 1000 + i)
    run = {"visitor": i, "outcome": "not started", "queued_message": False, "epochs": 0, "seconds": None,
           "t0": 0.0, "now": ""}
    if trainer:
        with res.lock:
            res.runs.append(run)
    time.sleep(max(0.0, start_at - time.monotonic()))
    v = None
    try:
        v = Visitor(port, args.timeout)
        v.query = args.query  # the link the visitor opens: page settings such as a corpus or batch size
        res.time("page load", v.rerun())
        with res.lock:
            res.loaded += 1
        scrub = json.loads(v.widget("scrubber")[2].json)  # the whole trace, sent once with the page
        state = {"step": 0, "steps": len(scrub["payload"]["text"]), "unit": scrub["goto"]["unit"],
                 "hidden": args.hidden, "epochs": args.epochs}
        plan = plan_for(i, trainer, args, rng)
        next_action, next_poll = time.monotonic() + rng.uniform(0.5, 1.5), math.inf
        drain_until = end_at + args.drain
        while True:
            now = time.monotonic()
            polling = run["outcome"] == "running" and bool(v.auto)
            acting = bool(plan) and now < end_at
            # after the visit, a run that is training (not waiting in the queue) may still finish
            draining = polling and run["now"] == "running" and end_at <= now < drain_until
            if not (acting or (polling and now < end_at) or draining):
                break
            due = min(next_action if acting else math.inf, next_poll if polling else math.inf)
            if now < due:
                v.idle(min(due, end_at if now < end_at else drain_until))
                continue
            if acting and now >= next_action:
                action = plan.pop(0)
                act(v, action, state, res, rng)
                if action == "start":
                    run["outcome"], run["t0"] = "running", time.monotonic()
                # think time: the remaining actions spread over the remaining visit (settings are quick)
                left = (end_at - time.monotonic()) / (len(plan) + 1)
                think = 1.0 if action in ("hidden", "epochs") else left * rng.uniform(0.5, 1.5)
                next_action = time.monotonic() + think
            else:  # the training fragment's run_every timer, as the browser fires it
                res.time("training poll", v.rerun(fragment=next(iter(v.auto)), auto=True))
                next_poll = math.inf
            if run["outcome"] == "running":
                check_run(v, run)
            # every full run declares the timer again; none left means the page stopped polling
            if not v.auto:
                next_poll = math.inf
            elif next_poll == math.inf:
                next_poll = time.monotonic() + next(iter(v.auto.values()))
        with res.lock:
            res.skipped += len(plan)
        if run["outcome"] == "running":
            run["outcome"] = ("queued with message" if run["queued_message"]
                              else "still running at the end" if v.auto else "the page stopped polling")
        v.idle(end_at)  # stay on the page until the end, as an open tab does
    except Exception as exc:  # noqa: BLE001 (a failed visitor is a result, not a crash)
        why = str(exc) if isinstance(exc, ProtocolError) else f"{type(exc).__name__}: {exc}"
        res.error(i, why)
        if run["outcome"] in ("running", "not started"):
            run["outcome"] = "queued with message" if run["queued_message"] else f"visitor failed: {why}"
    finally:
        run.pop("t0", None)
        run.pop("now", None)
        if v is not None:
            for e in v.errors:
                res.error(i, e)
            v.close()
