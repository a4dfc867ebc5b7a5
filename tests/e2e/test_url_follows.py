"""The address bar follows the scrubber: right after a press (not a settle and a rerun later), slow or fast, the
URL carries the step the page shows, so a link copied at any moment reopens that step. And the keys keep the
step they chose: a mouse resting on the tape does not replace it, and the jump box passes the arrows on."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e
ROOT = "[data-testid='gruScrubber']"


def url_step(app) -> int:
    found = re.search(r"[?&]step=(\d+)", app.page.url)
    return int(found.group(1)) if found else 0


def shown(app) -> dict:
    return app.page.evaluate("r => { const s = document.querySelector(r).parentElement.__gsc; "
                             "return {step: s.step, shown: s.shownStep(), heading: s.heading.textContent}; }", ROOT)


def open_at(app, step: int) -> None:
    app.open(f"tab=scrub&step={step}")
    app.page.wait_for_selector(f"{ROOT} .gsc-done[data-charts='1']", state="attached")
    app.wait_until(lambda: shown(app)["step"] == step, f"the link's step {step} shown")


def test_the_address_bar_carries_the_step_at_once_after_slow_and_fast_presses(app):
    open_at(app, 5)
    app.page.evaluate("() => document.activeElement?.blur()")
    for expected in (6, 7, 8):  # 1.5 s apart
        app.page.keyboard.press("ArrowRight")
        app.page.wait_for_timeout(200)  # well inside the 600 ms before the server hears of it
        assert shown(app)["step"] == expected and url_step(app) == expected, (shown(app), app.page.url)
        app.page.wait_for_timeout(1300)
        assert url_step(app) == expected  # the settle's rerun writes the same step, not an older one
    for _ in range(8):  # 150 ms apart
        app.page.keyboard.press("ArrowRight")
        app.page.wait_for_timeout(150)
        assert url_step(app) in (shown(app)["step"], shown(app)["step"] - 1)  # at most one throttle behind
    app.page.wait_for_timeout(200)
    assert shown(app)["step"] == 16 and url_step(app) == 16
    app.page.wait_for_timeout(2500)  # the settle and its rerun: nothing writes an older step afterwards
    assert url_step(app) == 16 and shown(app)["step"] == 16


def test_a_mouse_resting_on_the_tape_does_not_replace_the_step_the_keys_chose(app):
    open_at(app, 30)
    box = app.page.locator(f"{ROOT} .gsc-ch[data-t='31']").bounding_box()
    app.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # hovering previews step 31
    app.wait_until(lambda: shown(app)["shown"] == 31, "the hovered step previewed")
    for expected in (31, 32, 33, 34):  # the tape slides under the resting mouse
        app.page.keyboard.press("ArrowRight")
        app.page.wait_for_timeout(120)
        now = shown(app)
        assert now["step"] == expected and now["shown"] == expected, now
        assert now["heading"].startswith(f"Step {expected}:"), now
    app.page.mouse.move(box["x"] + box["width"] / 2 + 3, box["y"] + box["height"] / 2)  # a real move previews again
    app.wait_until(lambda: shown(app)["shown"] != 34 or shown(app)["step"] != 34, "the mouse previews again")


def test_after_jump_to_the_next_the_arrows_step_the_scrubber_not_the_box(app):
    open_at(app, 0)
    jump = app.page.locator(f"{ROOT} .gsc-small input[type='text']")
    jump.fill("t")
    app.wait_until(lambda: shown(app)["step"] > 0, "the jump moved the step")
    at = shown(app)["step"]
    assert app.page.evaluate("() => document.activeElement.type") == "text"  # focus is still in the box
    app.page.keyboard.press("ArrowRight")
    app.page.keyboard.press("ArrowRight")
    assert shown(app)["step"] == at + 2
    app.page.keyboard.press("ArrowLeft")
    assert shown(app)["step"] == at + 1


@pytest.mark.xfail(strict=True, reason="the pending step is no longer sent on a press outside the scrubber: sent in "
                   "the same batch as a click on a tab it made Streamlit rerun only the scrubber's fragment and the "
                   "tab stayed blank; the page keeps the step shown, the server hears it 600 ms later")
def test_a_click_right_after_a_key_press_reruns_with_the_step_shown_not_the_servers_older_one(app):
    """A preset clicked 100 ms after → (inside the 600 ms before the step would be reported) reruns the page:
    the pending step goes to the server first, so what that rerun sends (the share link, the address) carries
    the step shown, never the older one, and the page stays on it."""
    seen: list[int] = []  # every step=N the server sends once recording starts
    recording = [False]

    def frame(payload) -> None:
        if recording[0]:
            text = payload.decode("latin-1") if isinstance(payload, bytes) else payload
            seen.extend(int(n) for n in re.findall(r"[?&]step=(\d+)", text))

    app.page.on("websocket", lambda ws: ws.on("framereceived", frame))
    open_at(app, 5)
    app.page.evaluate("() => document.activeElement?.blur()")
    app.page.keyboard.press("ArrowRight")
    app.page.wait_for_timeout(100)
    assert shown(app)["step"] == 6
    recording[0] = True
    app.rerun_after(app.button("Plain RNN (Z=0, R=1)", exact=False).click)
    app.wait_until(lambda: "preset=plain_rnn" in app.page.url, "the preset in the address")
    app.page.wait_for_timeout(1500)  # the settle's rerun too, had the step waited for it
    assert seen and set(seen) == {6}, seen
    assert shown(app)["step"] == 6 and url_step(app) == 6
