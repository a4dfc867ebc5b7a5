"""Switching a forcing preset keeps the scrubber's 32 units and the chosen unit: "most active" is ranked on the
free model's trace of the probe, not on the forced one."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def scrub_data(at: AppTest) -> dict:
    return json.loads(at.get("bidi_component")[0].proto.json)


def test_every_preset_draws_the_same_units_and_keeps_the_first_one_chosen():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    free = scrub_data(at)
    units, unit = free["payload"]["units"], free["goto"]["unit"]
    assert len(units) == 32
    for preset in ("plain_rnn", "frozen_memory", "amnesia", "free"):
        at.session_state["preset"] = preset
        at.run()
        assert not at.exception
        now = scrub_data(at)
        assert now["payload"]["units"] == units, preset
        assert now["goto"]["unit"] == unit, preset
    st.cache_resource.clear()
