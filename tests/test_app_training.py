"""The app driven headless: a run started, paused, resumed and stopped; training on pasted text; the race from the
why-gates tab; a run's status and budget as the page states them."""


from __future__ import annotations

import re
import time

from app_page import chart, heat_z, no_errors, open_tab, scrubber, set_small_run
from helpers import selectbox_for, wait_for


def test_start_pause_resume_stop(at):
    set_small_run(at, 1000)
    at.button(key="btn_start").click().run()
    no_errors(at)
    run = at.session_state["runs"][0]
    # liveness bounds (an epoch of this small run takes well under a second; a loaded 2-core CI machine is slow)
    assert wait_for(lambda: run.progress().epoch >= 1, 120.0)
    at.button(key="btn_pause").click().run()
    assert run.progress().status == "paused"
    e = run.progress().epoch
    time.sleep(0.3)
    assert run.progress().epoch <= e + 1
    at.button(key="btn_resume").click().run()
    assert run.progress().status == "running"
    assert wait_for(lambda: run.progress().epoch > e + 1, 120.0)
    at.button(key="btn_stop").click().run()
    assert run.progress().status == "stopped"  # by the time the page's run returns
    no_errors(at)
    assert any(o.startswith("Run 1 (GRU) · latest") for o in selectbox_for(at, "inspect").options)


def test_training_on_pasted_text_then_inspecting_it(at):
    at.radio(key="w.corpus_source.en").set_value("paste").run()
    at.text_area(key="w.paste_text.en").set_value("The quick brown fox jumps over the lazy dog. " * 40).run()
    set_small_run(at, 3)
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


def _names(fig: dict) -> list[str]:
    """A chart's trace names as read, the line breaks the figure builder wraps them with (at spaces) undone."""
    return [d["name"].replace("<br>", " ") for d in fig["data"]]


def test_why_gates_tab_wiring(at):
    open_tab(at, "gates")
    grad = chart(at, "grad_chart")
    assert _names(grad) == ["GRU (free)", "GRU weights, gates removed (Z=0, R=1)",
                                                 "plain RNN trained with d2l's recipe (epoch 500)"]
    surv = chart(at, "surv_chart")
    assert _names(surv) == ["10-90 % of units", "median unit", "mean over units"]
    open_tab(at, "scrub")
    at.session_state["inspect"] = "pre:50"  # the RNN compared is the latest one not trained longer: epoch 20
    open_tab(at, "gates")
    assert _names(chart(at, "grad_chart"))[2] == "plain RNN trained with d2l's recipe (epoch 20)"
    at.slider(key="w.g_target.en").set_value(20).run()
    no_errors(at)
    assert "t = 20" in chart(at, "grad_chart")["layout"]["title"]["text"]
    # a lesson button sets the forcing up, and the gradient view shows it as a fourth curve
    at.button(key="l1_setup").click().run()
    no_errors(at)
    assert at.session_state["preset"] == "custom" and at.session_state["fz_on"] is True
    assert len(chart(at, "grad_chart")["data"]) == 4 and "steps 21-60" in _names(chart(at, "grad_chart"))[3]
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
    from gru_viz.train.race import VARIANTS
    from gru_viz.ui.strings import LANGS
    from gru_viz.ui.tabs.train import variant_name
    from gru_viz.ui.view import View

    for table in LANGS.values():
        assert all(table.get(f"variant_{slug}") for slug in VARIANTS)
    assert all(slug.isidentifier() and slug.islower() for slug in VARIANTS)  # ids, not display names
    assert variant_name(View("en"), "plain_rnn", race=True) == "plain RNN (Z=0, R=1)"
    assert variant_name(View("zh"), "plain_rnn", race=True) == "普通 RNN（Z=0，R=1）"
    assert variant_name(View("en"), "plain_rnn", race=False) == "plain_rnn"  # a run's own label stays as it is


def test_run_status_shows_in_the_sidebar_on_other_tabs(at):
    set_small_run(at, 400)
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
