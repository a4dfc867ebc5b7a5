"""The app driven headless with Streamlit's AppTest: first load, scrubbing, presets, training, bad uploads."""

from __future__ import annotations

import json
import pickle
import re
import time
from pathlib import Path

import pytest
from helpers import running_app, selectbox_for, wait_for
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture()
def at():
    with running_app(60) as app:
        yield app


def charts(app) -> dict:
    return {c.proto.id: json.loads(c.proto.spec) for c in app.get("plotly_chart")}


def chart(app, key: str) -> dict:
    for c in app.get("plotly_chart"):
        if key in c.proto.id:
            return json.loads(c.proto.spec)
    raise KeyError(key)


def no_errors(app) -> None:
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
    from gru_viz.scrub_payload import read_payload

    return read_payload(data["payload"])[gate]


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


def _set_small_run(at, epochs: int) -> None:
    at.session_state["tab"] = "train"
    at.number_input(key="w.hidden.en").set_value(8)
    at.number_input(key="w.epochs.en").set_value(epochs)
    at.number_input(key="w.batch_size.en").set_value(4)
    at.number_input(key="w.num_steps.en").set_value(10)
    at.run()


def test_start_pause_resume_stop(at):
    _set_small_run(at, 1000)
    at.button(key="btn_start").click().run()
    no_errors(at)
    run = at.session_state["runs"][0]
    assert wait_for(lambda: run.progress().epoch >= 1, 10.0)
    at.button(key="btn_pause").click().run()
    assert run.progress().status == "paused"
    e = run.progress().epoch
    time.sleep(0.3)
    assert run.progress().epoch <= e + 1
    at.button(key="btn_resume").click().run()
    assert run.progress().status == "running"
    assert wait_for(lambda: run.progress().epoch > e + 1, 10.0)
    t0 = time.time()
    at.button(key="btn_stop").click().run()
    assert run.progress().status == "stopped" and time.time() - t0 < 5
    no_errors(at)
    assert any(o.startswith("Run 1 (GRU) · latest") for o in selectbox_for(at, "inspect").options)


def test_training_on_pasted_text_then_inspecting_it(at):
    at.radio(key="w.corpus_source.en").set_value("paste").run()
    at.text_area(key="w.paste_text.en").set_value("The quick brown fox jumps over the lazy dog. " * 40).run()
    _set_small_run(at, 3)
    at.button(key="btn_start").click().run()
    run = at.session_state["runs"][0]
    assert run.join(30) and run.progress().status == "finished"
    open_tab(at, "scrub")
    no_errors(at)
    selectbox_for(at, "inspect").set_value(f"run:{run.run_id}:latest").run()
    no_errors(at)
    assert heat_z(scrubber(at), "R").shape[1] == 8  # the new model's 8 hidden units
    options = selectbox_for(at, "inspect").options
    # the visitor's first run is "Run 1"; its last epoch is listed once, as the latest
    assert "Run 1 (GRU) · latest, epoch 3" in options and "Run 1 (GRU) · epoch 3" not in options
    assert "Run 1 (GRU) · epoch 1" in options


def test_text_too_short_says_how_much_is_needed(at):
    open_tab(at, "train")
    at.radio(key="w.corpus_source.en").set_value("paste").run()
    at.text_area(key="w.paste_text.en").set_value("far too short").run()
    at.button(key="btn_start").click().run()
    no_errors(at)
    assert any("needs at least" in e.value for e in at.error)
    assert not at.session_state["runs"]


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
    from pathlib import Path

    data = (Path(__file__).resolve().parents[1] / "assets" / "pretrained" / "epoch_0005.safetensors").read_bytes()
    at.file_uploader(key="upload_ckpt").upload("mine.safetensors", data)
    at.run()
    no_errors(at)
    assert selectbox_for(at, "inspect").value == "upload"
    assert any(s.value.startswith("Loaded mine") for s in at.sidebar.success)


def test_why_gates_tab_wiring(at):
    open_tab(at, "gates")
    grad = chart(at, "grad_chart")
    assert [d["name"] for d in grad["data"]] == ["GRU (free)", "GRU weights, gates removed (Z=0, R=1)",
                                                 "plain RNN trained with d2l's recipe (epoch 500)"]
    surv = chart(at, "surv_chart")
    assert [d["name"] for d in surv["data"]] == ["10-90 % of units", "median unit", "mean over units"]
    open_tab(at, "scrub")
    at.session_state["inspect"] = "pre:50"  # the RNN compared is the latest one not trained longer: epoch 20
    open_tab(at, "gates")
    assert chart(at, "grad_chart")["data"][2]["name"] == "plain RNN trained with d2l's recipe (epoch 20)"
    at.slider(key="w.g_target.en").set_value(20).run()
    no_errors(at)
    assert "t = 20" in chart(at, "grad_chart")["layout"]["title"]["text"]
    # a lesson button sets the forcing up, and the gradient view shows it as a fourth curve
    at.button(key="l1_setup").click().run()
    no_errors(at)
    assert at.session_state["preset"] == "custom" and at.session_state["fz_on"] is True
    assert len(chart(at, "grad_chart")["data"]) == 4 and "steps 21-60" in chart(at, "grad_chart")["data"][3]["name"]
    assert any("Z is now held at 1" in i.value for i in at.info)
    # the unit explorer ranks units and colours the text
    at.radio(key="w.g_quantity.en").set_value("Z").run()
    no_errors(at)
    assert selectbox_for(at, "g_unit").options[0].startswith("unit ")  # ranked units come first, labelled
    assert any("background:" in m.value for m in at.markdown if "title=\"Z[" in m.value)


def test_race_starts_from_the_gates_tab(at):
    open_tab(at, "gates")
    at.number_input(key="w.race_hidden.en").set_value(8)
    at.number_input(key="w.race_epochs.en").set_value(5)
    at.number_input(key="w.batch_size.en").set_value(8)
    at.run()
    at.button(key="btn_race").click().run()
    no_errors(at)
    run = at.session_state["runs"][0]
    assert run.race and run.join(120) and run.progress().status == "finished"
    open_tab(at, "train")
    no_errors(at)
    ppl = chart(at, "ppl_chart")
    names = [d["name"] for d in ppl["data"]]
    assert sum(n.startswith(f"{run.number}: ") for n in names) == 4
    # lesson 2 compares the models' speeds: each one's tokens/s under the curves
    (rates,) = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("Tokens/s per model: ")]
    for name in ("GRU", "plain RNN (Z=0, R=1)", "reset gate only (Z=0)", "update gate only (R=1)"):
        assert re.search(re.escape(name) + r" [1-9][\d,]*", rates), (name, rates)  # markdown escapes removed
    # in Chinese the models have Chinese names: in the legend, the rates and the continuations
    at.session_state["lang"] = "zh"
    at.run()
    open_tab(at, "train")
    no_errors(at)
    names = [d["name"] for d in chart(at, "ppl_chart")["data"] if d["name"].startswith(f"{run.number}: ")]
    zh_names = ("GRU", "普通 RNN（Z=0，R=1）", "只有重置门（Z=0）", "只有更新门（R=1）")
    assert sorted(names) == sorted(f"{run.number}: {n}" for n in zh_names)
    (rates,) = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("每个模型的词元/秒：")]
    assert all(n in rates for n in zh_names) and "plain RNN" not in rates
    samples = [c.value for c in at.code if c.value.startswith(zh_names[1] + ": ")]
    assert len(samples) == 1, [c.value[:30] for c in at.code]


def test_every_race_model_has_a_name_in_each_language():
    from gru_viz.race import VARIANTS
    from gru_viz.ui.strings import LANGS
    from gru_viz.ui.tabs.train import variant_name
    from gru_viz.ui.view import View

    for table in LANGS.values():
        assert all(table.get(f"variant_{slug}") for slug in VARIANTS)
    assert all(slug.isidentifier() and slug.islower() for slug in VARIANTS)  # ids, not display names
    assert variant_name(View("en"), "plain_rnn", race=True) == "plain RNN (Z=0, R=1)"
    assert variant_name(View("zh"), "plain_rnn", race=True) == "普通 RNN（Z=0，R=1）"
    assert variant_name(View("en"), "plain_rnn", race=False) == "plain_rnn"  # a run's own label stays as it is


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
    _set_small_run(at, 3)
    at.button(key="btn_start").click().run()
    run = at.session_state["runs"][0]
    assert run.join(60)
    other = AppTest.from_file(APP, default_timeout=60)
    other.run()
    no_errors(other)
    assert other.session_state["runs"] == []
    assert not any(o.startswith("Run ") for o in selectbox_for(other, "inspect").options)


def test_only_the_open_tab_is_drawn_and_values_survive_switching(at):
    # first load: the scrubber only; nothing of the force, train and gates tabs is computed or sent
    assert at.get("bidi_component") and not at.metric
    assert not [b for b in at.button if b.key in ("btn_start", "btn_race")]
    for name, mark in (("force", lambda: at.metric), ("train", lambda: at.button(key="btn_start")),
                       ("gates", lambda: chart(at, "grad_chart"))):
        open_tab(at, name)
        no_errors(at)
        assert mark()
        assert not at.get("bidi_component")
    at.radio(key="w.g_conv.en").set_value("pytorch").run()
    at.text_area(key="w.l2_guess.en").set_value("my guess").run()
    at.number_input(key="w.race_hidden.en").set_value(16).run()
    open_tab(at, "scrub")
    open_tab(at, "gates")
    assert at.radio(key="w.g_conv.en").value == "pytorch" and at.text_area(key="w.l2_guess.en").value == "my guess"
    assert at.number_input(key="w.race_hidden.en").value == 16
    tab = at.query_params.get("tab")  # a shared link opens the same tab (older AppTests give lists)
    assert (tab[0] if isinstance(tab, list) else tab) == "gates"


def test_run_status_shows_in_the_sidebar_on_other_tabs(at):
    _set_small_run(at, 400)
    at.button(key="btn_start").click().run()
    run = at.session_state["runs"][0]
    assert wait_for(lambda: run.progress().epoch >= 1, 10.0)
    open_tab(at, "scrub")
    no_errors(at)
    side = [m.value for m in at.sidebar.markdown]
    assert any(f"Run {run.number} (GRU)" in v for v in side)
    assert at.sidebar.get("progress")
    run.stop()
    run.join(5)
    at.run()
    assert any(f"Stopped at epoch {run.progress().epoch}" in c.value for c in at.sidebar.caption)


def share_link(app) -> str:
    return next(c.value for c in app.code if "?" in c.value or c.value.startswith("http"))


def test_share_link_keeps_the_settings_of_tabs_that_are_not_open(at):
    from urllib.parse import parse_qs, urlsplit

    at.session_state["step"], at.session_state["unit"] = 7, 3  # as the browser reports them
    at.run()
    open_tab(at, "force")
    at.radio(key="w.preset.en").set_value("custom").run()
    at.toggle(key="w.fz_on.en").set_value(True).run()
    at.slider(key="w.fz_val.en").set_value(0.5).run()
    at.text_input(key="w.f_units.en").set_value("0-3 & more").run()  # a character that must be escaped
    query = parse_qs(urlsplit(share_link(at)).query)
    assert query["tab"] == ["force"] and query["step"] == ["7"] and query["unit"] == ["3"]
    open_tab(at, "scrub")
    query = parse_qs(urlsplit(share_link(at)).query)
    assert query["preset"] == ["custom"] and query["fz_on"] == ["true"] and query["fz_val"] == ["0.5"]
    assert query["f_units"] == ["0-3 & more"] and "tab" not in query and "probe" not in query
    # the link opens the same view: another visitor, on the force tab first
    other = AppTest.from_file(APP, default_timeout=60)
    other.query_params.update({k: v[0] for k, v in query.items()})
    other.query_params["tab"] = "force"
    other.run()
    no_errors(other)
    assert other.toggle(key="w.fz_on.en").value is True and other.slider(key="w.fz_val.en").value == 0.5
    open_tab(other, "scrub")
    assert other.session_state["step"] == 7 and other.session_state["unit"] == 3


def test_an_edit_sent_with_the_click_on_another_tab_is_kept(at):
    open_tab(at, "gates")
    at.text_area(key="w.l2_guess.en").set_value("sent with the click")  # no run: it travels with the tab switch
    open_tab(at, "scrub")
    open_tab(at, "gates")
    assert at.text_area(key="w.l2_guess.en").value == "sent with the click"


def test_a_forcing_is_described_once_in_the_pages_language():
    """One describer (the engine has none): the same forcing in English and in Chinese, its steps inclusive."""
    from gru_viz.model import FREE, Forcing, GateForce
    from gru_viz.ui.actions import describe_forcing
    from gru_viz.ui.view import View

    forcing = Forcing(update=GateForce(1.0, units=tuple(range(10)), steps=(5, 21)))
    assert describe_forcing(View("en"), forcing) == "Z=1 on 10 units for steps 5-20"
    assert describe_forcing(View("zh"), forcing) == "Z=1（10 个单元）（时间步 5-20）"
    assert describe_forcing(View("zh"), FREE) == "自由" and describe_forcing(View("en"), FREE) == "free"
    assert not hasattr(Forcing, "describe")


def test_the_train_tab_states_a_runs_budget_on_this_server_in_both_languages(at):
    """Issue 31 (5): the limits a run meets are said before it starts, from the numbers the server uses."""
    from gru_viz.ui.i18n import en, zh
    from gru_viz.ui.state import RUN_SECONDS, training_slots

    slots = training_slots()
    for lang, table in (("en", en.EN), ("zh", zh.ZH)):
        at.session_state["lang"] = lang
        open_tab(at, "train")
        no_errors(at)
        captions = " ".join(c.value for c in at.caption)
        assert table["budget_slots"].format(max=slots.runs) in captions
        assert table["budget_minutes"].format(minutes=f"{RUN_SECONDS / 60:g}") in captions
        assert table["budget_memory"].format(mb=slots.memory_budget // 2**20) in captions


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


def test_a_continuation_of_one_repeated_character_is_explained_and_called_most_common_only_when_it_is():
    """Issue 30: at epoch 5 ③'s continuation was fifty spaces and looked like nothing."""
    from gru_viz.data import make_corpus
    from gru_viz.ui.tabs.train import repeat_note
    from gru_viz.ui.view import View

    corpus = make_corpus("the cat sat on the mat and the dog sat on the log " * 20, "t")
    prefix = "time traveller "
    spaces = repeat_note(View("en"), {"GRU": prefix + " " * 50}, corpus, 5)
    assert "“␣”" in spaces and "most common character" in spaces and "epoch 5" in spaces
    letters = repeat_note(View("zh"), {"GRU": prefix + "g" * 50}, corpus, 5)  # "g" is rare in that text
    assert "“g”" in letters and "最常见" not in letters
    assert repeat_note(View("en"), {"GRU": prefix + "the cat sat on the mat " * 3}, corpus, 5) == ""
    assert repeat_note(View("en"), {"GRU": prefix + " " * 50, "RNN": prefix + "e" * 50}, corpus, 5) == ""
