"""The projector (1280×720) in a class: reload the page during the class, then "End the class": the training
settings keep their values (they used to drop to every widget's minimum: hidden 1, epochs 1, lr 0.001…, because
the Settings popover mounts its widgets only when opened, and a widget mounted after the run that set its value
starts from its own default; page_state now gives each widget its setting's value as that default)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
# not the defaults, so a value can come neither from a widget's default nor from the setting's
LINK = "proj=true&hidden=64&epochs=50&batch_size=16&lr=0.5&sampling=random"
SETTINGS = {"Hidden units": "64", "Epochs": "50", "Batch size": "16", "Learning rate": "0.500"}
RANDOM = "random (fresh state)"


def open_settings(app):
    """The Settings popover, opened as a person does: once the page is idle. It is stateful (opening or closing it
    reruns), and a click while the rerun of its closing is under way is undone by that rerun's answer."""
    app.wait_idle()
    app.page.get_by_role("button", name="Settings").click()
    pop = app.page.get_by_test_id("stPopoverBody")
    pop.wait_for()
    return pop


def settings_values(app) -> dict[str, object]:
    """The numbers and the sampling choice as the Settings popover shows them (opened, read, closed)."""
    pop = open_settings(app)
    out: dict[str, object] = {label: pop.get_by_label(label, exact=True).input_value() for label in SETTINGS}
    option = pop.get_by_test_id("stRadioOption").filter(has=app.page.get_by_text(RANDOM, exact=True))
    out[RANDOM] = option.locator("input").is_checked()
    app.page.keyboard.press("Escape")
    pop.wait_for(state="hidden")
    app.page.wait_for_timeout(300)  # the closing's rerun starts
    app.wait_idle()
    return out


def test_starting_a_class_closes_the_settings_and_after_a_reload_ending_it_keeps_every_setting(app):
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open(LINK)
    expected = {**SETTINGS, RANDOM: True}
    assert settings_values(app) == expected
    pop = open_settings(app)
    pop.get_by_text("Class mode", exact=False).first.click()  # the class box, folded in the settings
    app.rerun_after(lambda: pop.get_by_role("button", name="Start a class (teacher)").click())
    assert "class=" in app.page.url
    # the Settings close by themselves: left open, they covered the QR code the class box now shows under the title
    app.wait_until(lambda: not pop.is_visible(), "the Settings popover to close after starting the class")
    qr = app.main.locator("svg").filter(has=app.page.locator("path")).first
    assert qr.is_visible() and app.button("End the class").is_visible()
    app.shot("class-started")
    app.page.reload()
    app.wait_idle()
    app.rerun_after(lambda: app.button("End the class").click())
    app.page.wait_for_timeout(1000)
    app.wait_idle()
    assert "class=" not in app.page.url
    assert settings_values(app) == expected
    # and the server kept them: the address bar carries every setting that is not its default
    app.rerun_after(lambda: app.page.get_by_role("tab", name="③ Train live").click())
    for part in ("hidden=64", "epochs=50", "batch_size=16", "lr=0.5", "sampling=random"):
        assert part in app.page.url, app.page.url
    app.shot("after-end-class")
