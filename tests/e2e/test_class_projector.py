"""The projector (1280×720) in a class: reload the page during the class, then "End the class": the training
settings keep their values (they used to drop to every widget's minimum: hidden 1, epochs 1, lr 0.001…)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
SETTINGS = {"Hidden units": "256", "Epochs": "500", "Batch size": "32"}


def settings_values(app) -> dict[str, str]:
    app.page.get_by_role("button", name="Settings").click()
    pop = app.page.get_by_test_id("stPopoverBody")
    pop.wait_for()
    out = {label: pop.get_by_label(label, exact=True).input_value() for label in SETTINGS}
    app.page.keyboard.press("Escape")
    return out


@pytest.mark.xfail(strict=True, reason="issue 30 item 3, reproduced here (hidden units drops to 1), not fixed yet: "
                   "moving the class box after the settings in the popover did not help")
def test_reload_during_a_class_then_end_it_keeps_every_training_setting(app):
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.open("proj=true")
    assert settings_values(app) == SETTINGS
    app.page.get_by_role("button", name="Settings").click()
    pop = app.page.get_by_test_id("stPopoverBody")
    pop.get_by_text("Class mode", exact=False).first.click()  # the class box, folded in the settings
    app.rerun_after(lambda: pop.get_by_role("button", name="Start a class (teacher)").click())
    app.page.keyboard.press("Escape")
    assert "class=" in app.page.url
    app.page.reload()
    app.wait_idle()
    app.rerun_after(lambda: app.button("End the class").click())
    app.page.wait_for_timeout(1000)
    app.wait_idle()
    assert "class=" not in app.page.url
    assert settings_values(app) == SETTINGS
    app.shot("after-end-class")
