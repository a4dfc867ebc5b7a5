"""What the AppTest tests read off the page: its charts, the scrubber's data, the share link; a tab opened as a
click opens it, and a small training run set up."""

from __future__ import annotations

import json


def charts(app) -> dict:
    """Every Plotly chart on the page by its element id."""
    return {c.proto.id: json.loads(c.proto.spec) for c in app.get("plotly_chart")}


def chart(app, key: str) -> dict:
    """The chart whose element id holds `key`."""
    for c in app.get("plotly_chart"):
        if key in c.proto.id:
            return json.loads(c.proto.spec)
    raise KeyError(key)


def no_errors(app) -> None:
    """The run raised nothing (the failure lists what it raised)."""
    assert not app.exception, [e.value for e in app.exception]


def open_tab(app, name: str):
    """What a click on a tab does: the page reruns with that tab open (only the open tab is drawn)."""
    app.session_state["tab"] = name
    return app.run()


def scrubber(app) -> dict:
    """What the page gives the in-browser scrubber: {"payload", "ui", "goto"} (gru_viz/ui/tabs/scrub.py)."""
    return json.loads(app.get("bidi_component")[0].proto.json)


def heat_z(data: dict, gate: str):
    """The scrubber's R or Z as (steps, rows), read back as the browser reads it."""
    from gru_viz.views.scrub_payload import read_payload

    return read_payload(data["payload"])[gate]


def set_small_run(at, epochs: int) -> None:
    at.session_state["tab"] = "train"
    at.number_input(key="w.hidden.en").set_value(8)
    at.number_input(key="w.epochs.en").set_value(epochs)
    at.number_input(key="w.batch_size.en").set_value(4)
    at.number_input(key="w.num_steps.en").set_value(10)
    at.run()


def share_link(app) -> str:
    """The share box's link."""
    return next(c.value for c in app.code if "?" in c.value or c.value.startswith("http"))
