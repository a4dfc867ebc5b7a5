"""The app driven headless: only the open tab is drawn and values survive switching; the share link keeps every
tab's settings; one forcing described once, in the page's language."""


from __future__ import annotations

from app_page import chart, no_errors, open_tab, share_link
from helpers import APP
from streamlit.testing.v1 import AppTest


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
    from gru_viz.nets.model import FREE, Forcing, GateForce
    from gru_viz.ui.actions import describe_forcing
    from gru_viz.ui.view import View

    forcing = Forcing(update=GateForce(1.0, units=tuple(range(10)), steps=(5, 21)))
    assert describe_forcing(View("en"), forcing) == "Z=1 on 10 units for steps 5-20"
    assert describe_forcing(View("zh"), forcing) == "Z=1（10 个单元）（时间步 5-20）"
    assert describe_forcing(View("zh"), FREE) == "自由" and describe_forcing(View("en"), FREE) == "free"
    assert not hasattr(Forcing, "describe")


def _page_order(node, out: list[str]) -> list[str]:
    """The main area's buttons and expanders in page order, as keys or labels."""
    for child in getattr(node, "children", {}).values():
        if child.type in ("button", "expander"):
            out.append(getattr(child, "key", None) or str(child.label))
        _page_order(child, out)
    return out


def test_on_a_projector_the_preset_keys_sit_right_under_the_scrubbers_charts(at):
    """Issue 30, item 8: on a projector ① draws its charts first and its settings last, so the preset keys sat at
    the very bottom, under the equations and the downloads; now they follow the charts. Off the projector they
    stay above the scrubber, under the probe's settings."""
    from gru_viz.ui.i18n.en import EN

    order = _page_order(at.main, [])
    assert order.index(EN["probe_settings"]) < order.index("k_free") < order.index(EN["equations"])
    at.session_state["proj"] = True
    at.run()
    no_errors(at)
    order = _page_order(at.main, [])
    assert order.index("k_free") < order.index(EN["equations"]) < order.index(EN["probe_settings"])
    assert [k for k in order if str(k).startswith("k_")] == ["k_free", "k_plain_rnn", "k_frozen_memory", "k_amnesia"]
