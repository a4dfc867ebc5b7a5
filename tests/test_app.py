"""The app driven headless with Streamlit's AppTest: first load, scrubbing, presets and custom forcing, uploads,
the projector, visitors kept apart. Training and the race: test_app_training.py; tabs and links: test_app_tabs.py."""


from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from app_page import heat_z, no_errors, open_tab, scrubber, set_small_run
from helpers import APP, selectbox_for
from streamlit.testing.v1 import AppTest


def test_first_load_shows_pretrained_scrubber(at):
    no_errors(at)
    assert selectbox_for(at, "inspect").value == "pre:500"
    data = scrubber(at)
    assert len(data["payload"]["units"]) == 32 and data["payload"]["hidden"] == 256
    assert data["goto"]["step"] == 0 and at.session_state["step"] == 0
    # no unit chosen and none in the link: the numbers are for the first unit shown, and the link stays short
    assert data["goto"]["unit"] == data["payload"]["units"][0] and at.session_state["unit"] is None
    assert any("The GRU" in e.label for e in at.expander)


def test_a_step_set_on_the_server_moves_the_browser_and_a_reported_one_does_not(at):
    first = scrubber(at)
    at.session_state["step"] = 7  # as a link or a lesson would set it
    at.run()
    moved = scrubber(at)
    assert moved["goto"]["step"] == 7 and moved["goto"]["n"] == first["goto"]["n"] + 1
    assert moved["payload"] == first["payload"]  # the trace is not recomputed for a step
    assert at.query_params["step"] in ("7", ["7"])
    # what the browser reports is settled state: the data stays identical, so nothing is re-sent or redrawn
    at.session_state["_scrub_seen"] = (9, moved["goto"]["unit"])
    at.session_state["step"] = 9
    at.run()
    assert scrubber(at)["goto"] == moved["goto"]
    at.session_state["step"] = 10_000  # clamped to the probe
    at.run()
    assert scrubber(at)["goto"]["step"] == len(scrubber(at)["payload"]["text"]) - 1


@pytest.mark.parametrize("preset, r, z", [("plain_rnn", 1.0, 0.0), ("frozen_memory", None, 1.0),
                                          ("amnesia", 0.0, None)])
def test_each_preset_changes_trace_and_continuation(at, preset, r, z):
    open_tab(at, "force")
    free_md = [m.value for m in at.markdown if "font-family:monospace" in m.value and "mark" not in m.value]
    at.radio(key="w.preset.en").set_value(preset).run()
    no_errors(at)
    forced = [m.value for m in at.markdown if "<mark" in m.value]
    assert forced, "the forced continuation should differ from the free one somewhere"
    assert free_md
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Perplexity, forced"]) > float(metrics["Perplexity, free"])
    open_tab(at, "scrub")  # the scrubber traces with the same forcing
    no_errors(at)
    R, Z = heat_z(scrubber(at), "R"), heat_z(scrubber(at), "Z")
    if r is not None:
        assert (R == r).all()
    else:
        assert not (R == R.flat[0]).all()
    if z is not None:
        assert (Z == z).all()


def test_custom_forcing_units_and_steps(at):
    open_tab(at, "force")
    at.radio(key="w.preset.en").set_value("custom").run()
    at.toggle(key="w.fz_on.en").set_value(True).run()
    at.slider(key="w.fz_val.en").set_value(1.0).run()
    at.text_input(key="w.f_units.en").set_value("0-3").run()
    no_errors(at)
    open_tab(at, "scrub")  # the force tab's widgets are not drawn now; their values must survive
    at.radio(key="w.units_mode.en").set_value("all").run()
    Z = heat_z(scrubber(at), "Z")
    assert (Z[:, :4] == 1.0).all() and not (Z[:, 4:] == 1.0).all()
    open_tab(at, "force")
    assert at.toggle(key="w.fz_on.en").value is True and at.text_input(key="w.f_units.en").value == "0-3"
    at.text_input(key="w.f_units.en").set_value("0-9999").run()
    no_errors(at)
    assert any("outside" in e.value for e in at.error)


def test_bad_uploads_show_messages(at, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    at.file_uploader(key="upload_ckpt").upload("model.safetensors", pickle.dumps(Evil()))
    at.run()
    no_errors(at)
    assert any("pickle" in e.value for e in at.sidebar.error)
    assert not marker.exists()
    at.radio(key="w.corpus_source.en").set_value("upload").run()
    at.file_uploader(key="upload_txt").upload("book.txt", b"\x00\x01binary\xff")
    at.run()
    no_errors(at)
    assert any("binary" in e.value for e in at.sidebar.error)


def test_good_checkpoint_upload_is_inspectable(at):

    data = (Path(__file__).resolve().parents[1] / "assets" / "pretrained" / "epoch_0005.safetensors").read_bytes()
    at.file_uploader(key="upload_ckpt").upload("mine.safetensors", data)
    at.run()
    no_errors(at)
    assert selectbox_for(at, "inspect").value == "upload"
    assert any(s.value.startswith("Loaded mine") for s in at.sidebar.success)


def test_projector_mode_hides_the_charts_toolbars_which_would_cover_their_legends(at):
    open_tab(at, "train")
    assert json.loads(next(c for c in at.get("plotly_chart") if "ppl_chart" in c.proto.id).proto.config) == {
        "displaylogo": False}  # on a screen: the toolbar appears on hover, as Plotly has it
    at.session_state["proj"] = True
    at.run()
    for tab, key in (("train", "ppl_chart"), ("gates", "grad_chart"), ("gates", "surv_chart")):
        open_tab(at, tab)
        no_errors(at)
        config = json.loads(next(c for c in at.get("plotly_chart") if key in c.proto.id).proto.config)
        assert config == {"displaylogo": False, "displayModeBar": False}, key


def test_one_visitor_sees_nothing_of_another(at):
    set_small_run(at, 3)
    at.button(key="btn_start").click().run()
    run = at.session_state["runs"][0]
    assert run.join(60)
    other = AppTest.from_file(APP, default_timeout=60)
    other.run()
    no_errors(other)
    assert other.session_state["runs"] == []
    assert not any(o.startswith("Run ") for o in selectbox_for(other, "inspect").options)
