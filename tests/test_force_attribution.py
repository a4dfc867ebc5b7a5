"""② in the browser asks the server for the attribution bars only while they are in view (issue 33): a settled
setting from a page whose scrubber is scrolled away is recorded and no gradient is computed; one that says the
bars are in view gets them, of that setting. In-process (AppTest), counting calls to the attribution."""

from __future__ import annotations

import json

import pytest

from gru_viz.ui import scrub_view


@pytest.fixture
def counted(monkeypatch):
    calls: list[tuple] = []
    real = scrub_view.attribution

    def attribution(model, tokens, forcing=None):
        calls.append((len(tokens), forcing))
        return real(model, tokens, forcing)

    monkeypatch.setattr(scrub_view, "attribution", attribution)
    return calls


def _server_att(at) -> dict:
    found = [json.loads(c.proto.json) for c in at.get("bidi_component") if '"held"' in c.proto.json
             or '"attribution"' in c.proto.json and '"rows"' in c.proto.json]
    assert len(found) == 1, found
    return found[0]


def test_the_attribution_is_computed_only_for_a_page_that_has_its_bars_in_view(at, monkeypatch, counted):
    monkeypatch.setenv("GRU_VIZ_LIVE_FORCE", "1")
    at.session_state["tab"] = "force"
    at.run()
    assert not at.exception
    first = _server_att(at)
    assert first["held"] is True and first["attribution"] is None and counted == []  # a page that said nothing yet

    at.session_state["_force_att"] = True  # what live_force._settled records from a report with att: true
    at.session_state["preset"] = "amnesia"
    at.run()
    assert not at.exception
    shown = _server_att(at)
    assert "held" not in shown and shown["attribution"]["forcing"]["R"]["value"] == 0.0
    assert len(counted) == 1 and counted[0][1].reset.value == 0.0

    at.session_state["_force_att"] = False  # scrolled away again: the next setting is recorded, none computed
    at.session_state["preset"] = "frozen_memory"
    at.run()
    assert not at.exception
    assert _server_att(at)["held"] is True and len(counted) == 1
