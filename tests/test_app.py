"""The app driven headless with Streamlit's AppTest: first load, scrubbing, presets and custom forcing, uploads,
the projector, visitors kept apart. Training and the race: test_app_training.py; tabs and links: test_app_tabs.py."""


from __future__ import annotations

import json
import pickle
import re
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


@pytest.mark.parametrize("projector", [False, True])
def test_no_chart_has_a_toolbar_which_would_cover_its_legend_or_title(at, projector):
    """Issue 30: Plotly's toolbar covered legends and ④'s titles on a projector and on a tablet (a tap shows it)."""
    at.session_state["proj"] = projector
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


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_projectors_model_chooser_has_labels_short_enough_for_its_box(at, lang):
    """Issue 30: on a 1280×720 projector the chooser in the title row showed "Pretrained on The Time M"."""
    def columns(text: str) -> int:  # printed width: a Chinese character takes two
        return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)

    at.session_state["lang"] = lang
    at.session_state["proj"] = True
    at.run()
    no_errors(at)
    chooser = next(s for s in at.selectbox if str(s.key).startswith("w.inspect."))
    assert len(chooser.options) >= 4 and len(set(chooser.options)) == len(chooser.options)
    assert max(columns(o) for o in chooser.options) <= 32, chooser.options
    assert any("500" in o for o in chooser.options)


def test_in_chinese_the_device_choice_the_engine_and_the_uploaders_say_what_they_are(at):
    """Issue 30: "auto", "cpu · fast" and the uploaders stayed English on the Chinese page. Streamlit's own
    uploader texts cannot be translated by the app: the label says what to drop, the help translates them."""
    import glob

    import streamlit

    from gru_viz.ui.strings import translate

    at.session_state["lang"] = "zh"
    at.session_state["corpus_source"] = "upload"
    at.run()
    no_errors(at)
    device = next(s for s in at.selectbox if str(s.key).startswith("w.device."))
    assert device.options[0] == "自动"
    uploaders = [u for u in at.get("file_uploader")]
    assert len(uploaders) == 2 and all("拖到" in u.proto.label for u in uploaders)
    bundle = "".join(open(f, encoding="utf-8").read() for f in glob.glob(
        str(Path(streamlit.__file__).parent / "static" / "static" / "js" / "FileUploader*.js")))
    for u in uploaders:  # the help quotes what this Streamlit really shows
        quoted = re.findall(r"“([A-Za-z][^”]*)”", u.proto.help)
        assert len(quoted) == 3, u.proto.help
        for text in quoted:
            assert text.removeprefix("MB ") in bundle, text  # "2MB per file" is written as `${size} per file`
    assert all(translate(f"engine_short_{e}", "zh") != translate(f"engine_short_{e}", "en")
               for e in ("fast", "textbook"))


@pytest.mark.parametrize("lang, word", [("en", "sidebar"), ("zh", "侧边栏")])
def test_projector_mode_never_sends_anyone_to_the_hidden_sidebar(at, lang, word):
    """Issue 30: on a projector the sidebar is hidden and the settings sit under the Settings button."""
    at.session_state["lang"] = lang
    at.session_state["proj"] = True
    seen = 0
    for tab in ("scrub", "force", "train", "gates"):
        open_tab(at, tab)
        no_errors(at)
        texts = [e.value for kind in ("markdown", "caption", "info", "warning", "error") for e in getattr(at, kind)]
        assert not [t for t in texts if word in str(t)], tab
        seen += len(texts)
    assert seen > 20
    at.session_state["proj"] = False
    open_tab(at, "train")
    assert any(word in str(e.value) for e in at.info)  # the same message off the projector names the sidebar
