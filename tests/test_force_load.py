"""② against the real server through its websocket (tools/force_load.py's client): with ② in the browser a drag
or a typed word costs one rerun once it has settled; with ② on the server every move is a rerun. A settled rerun
does not send the model's weights again (its rows and attribution travel apart), and a setting the server changes itself
still reaches the browser.

Counts of reruns and bytes, never times (the 30-visitor figures are in docs/LOADTEST.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import force_load  # noqa: E402
from app_server import AppServer  # noqa: E402

from gru_viz.ui.tabs import TABS  # noqa: E402

pytestmark = pytest.mark.slow
MODEL_KB = 1000  # the bundled 256-unit model's weights in ②'s data are about 1.2 MB of JSON



@pytest.fixture(scope="module")
def rounds() -> dict:
    """2 visitors, each: 6 moves of Z in drags of 3, 5 typed letters as one word; ② on the server, then live."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = force_load.main(["--visitors", "2", "--moves", "6", "--drag", "3", "--typed", "5", "--ramp", "1",
                                "--modes", "server,live", "--json"])
    found = json.loads(out.getvalue().strip().splitlines()[-1])
    assert code == 0, found
    return {r["mode"]: r for r in found["rounds"]}


def test_live_force_settles_once_per_drag_and_word_the_server_version_once_per_move(rounds):
    server, live = rounds["server"], rounds["live"]
    assert not server["errors"] and not live["errors"]  # and the address bar followed every setting
    assert server["reruns_moving"] == 2 * (6 + 1)  # every move and every committed word
    assert live["reruns_moving"] == 2 * (2 + 1)  # one per drag and one per word, once settled


def test_a_settled_setting_does_not_resend_the_model(rounds):
    live = rounds["live"]
    # each settled rerun should bring back what changed, not the weights (1.2 MB each)
    assert live["received_moving_kb"] < live["reruns_moving"] * 64 < MODEL_KB


def _force_data(c: force_load.Client) -> dict:
    return json.loads(c.widget("live_force")[2].json)


def test_a_setting_the_server_changes_still_reaches_the_browser(tmp_path):
    server = AppServer(tmp_path / "log", {"GRU_VIZ_CACHE_DIR": str(tmp_path / "cache"), "GRU_VIZ_LIVE_FORCE": "1",
                                          "GRU_VIZ_BUILD_EXT": "0"})
    server.start()
    try:
        c = force_load.Client(server.port, 60)
        c.query = force_load.QUERY
        c.rerun()
        first = _force_data(c)
        setting = {**first["setting"], "version": 1, "fz_val": 0.4, "probe": "the gates keep what matters "}
        c.set_json("live_force", {"setting": setting})
        assert "fz_val=0.4" in c.query and "probe=" in c.query  # recorded
        assert _force_data(c)["setting"] == first["setting"]  # the browser's own setting is not sent back to it
        # ①'s preset key changes the setting on the server: ② must get it
        order = list(TABS)
        c.rerun([WidgetState(id=c.tabs_id, string_value=c.tab_labels[order.index("scrub")])])
        c.press("k_plain_rnn")
        c.rerun([WidgetState(id=c.tabs_id, string_value=c.tab_labels[order.index("force")])])
        assert not c.errors, c.errors
        data = _force_data(c)
        assert data["setting"]["preset"] == "plain_rnn" and data["probe"] == setting["probe"]
    finally:
        server.stop()
