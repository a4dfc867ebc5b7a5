"""The browser's data contract: one version, written by Python into the scrubber's payload and ②'s component data,
the same number in the page's code (scrub_util.js), and a setting ② sends back of another version refused."""

from __future__ import annotations

import re

from gru_viz.ui import live_force
from gru_viz.views.export_html import FORCE_SOURCES, SCRUBBER_DIR, SOURCES
from gru_viz.views.scrub_payload import VERSION


def test_the_pages_code_knows_the_version_python_writes():
    js = (SCRUBBER_DIR / "scrub_util.js").read_text(encoding="utf-8")
    assert [int(v) for v in re.findall(r"^const GV_CONTRACT = (\d+);", js, re.M)] == [VERSION]


def test_every_client_file_is_about_300_lines_at_most():
    for name in (*SOURCES, *FORCE_SOURCES):
        n = len((SCRUBBER_DIR / name).read_text(encoding="utf-8").splitlines())
        assert n <= 300, (name, n)


def test_a_setting_of_another_version_is_refused_and_this_one_read():
    good = {"version": VERSION, "preset": "custom", "fr_on": True, "fz_on": False, "f_steps_on": False,
            "fr_val": 0.5, "fz_val": 0.0, "f_strength": 0.5, "f_units": "", "f_steps": None, "probe": "abc"}
    assert live_force._valid(good) is not None
    assert live_force._valid({**good, "version": VERSION + 1}) is None
    assert live_force._valid({k: v for k, v in good.items() if k != "version"}) is None
