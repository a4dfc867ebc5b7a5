"""End-to-end: the model client's guess at a drag's next setting (model_worker.js): which forcing it guesses,
that it runs only when nothing waits and is never work anyone waits for, that a guessed setting's numbers are
the engine's own to the last bit, and that a class question (forget) stops it."""

from __future__ import annotations

import pytest
from engine_page import MODEL, SHORT, open_engine_page

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.views.model_payload import scratch_payload

pytestmark = pytest.mark.e2e

# every message the views' worker is sent, with whether the client counted itself busy at that moment
SPY = """() => { window.sentToViews = [];
  const w = gvClient.lanes[0].worker, post = w.postMessage.bind(w);
  w.postMessage = (q, t) => { post(q, t);
    if (q.type !== "load") sentToViews.push({ guess: !!q.guess, z: q.force && q.force.Z && q.force.Z.value,
                                              cont: !!q.cont, busy: gvClient.busy }); }; }"""

Z = "z => ({ R: null, Z: { value: z, units: null, steps: null }, strength: 1 })"


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    stored = load_checkpoint(MODEL)
    payload = scratch_payload(stored.model, stored.vocab)
    ctx, pg, errors = open_engine_page(browser, tmp_path_factory.mktemp("guess"), payload)
    pg.evaluate(SPY)
    yield pg
    assert not errors, errors
    ctx.close()


def test_the_next_force_is_the_same_step_again_and_nothing_else(page):
    cases = page.evaluate("""() => { const f = """ + Z + """;
      const s = (x) => ({ R: { value: 1, units: null, steps: null }, Z: { value: 0, units: null, steps: null },
                          strength: x });
      return {
        z: gvNextForce(f(0.3), f(0.35)).Z.value,              // 0.39999999999999997 rounded: the slider's 0.4
        down: gvNextForce(f(0.15), f(0.1)).Z.value,
        strength: gvNextForce(s(0.5), s(0.55)).strength,
        past_one: gvNextForce(s(0.9), s(1)),                  // would leave [0, 1]
        two_changed: gvNextForce(f(0.3), { ...f(0.35), strength: 0.5 }),
        units_changed: gvNextForce(f(0.3), { ...f(0.35), Z: { value: 0.35, units: [1, 2], steps: null } }),
        same: gvNextForce(f(0.3), f(0.3)),
        from_free: gvNextForce(null, f(0.3)),
      }; }""")
    assert cases["z"] == 0.4 and cases["down"] == 0.05 and cases["strength"] == 0.6
    assert all(cases[k] is None for k in ("past_one", "two_changed", "units_changed", "same", "from_free"))


def test_a_guessed_setting_is_computed_when_idle_and_answers_with_the_engines_own_numbers(page):
    page.evaluate("sentToViews.length = 0")
    cont = {"fromProbe": True, "n": 40}
    for z in (0.3, 0.35):
        page.evaluate("""([text, z, cont]) => Promise.all([
            gvRun("job", { text, force: (""" + Z + """)(z), maxChars: 500 }),
            gvRun("cont", { text, force: (""" + Z + """)(z), maxChars: 500, cont })])""", [SHORT, z, cont])
    page.wait_for_function("() => sentToViews.some((m) => m.guess) && !gvClient.lanes[0].busy")
    guesses = [m for m in page.evaluate("sentToViews") if m["guess"]]
    assert len(guesses) == 1 and guesses[0]["z"] == 0.4 and guesses[0]["cont"]  # with the continuations
    assert guesses[0]["busy"] is False  # nobody waits for a guess: the settled setting is not held back by it
    # the guessed setting, asked now: the same arrays, perplexities and continuations as the engine run afresh
    same = page.evaluate("""async ([text, cont]) => {
      const f = (""" + Z + """)(0.4), r = await gvRun("job", { text, force: f, maxChars: 500 });
      const c = await gvRun("cont", { text, force: f, maxChars: 500, cont });
      const E = gvModelEngine(), M = E.prepare(gvClient.modelPayload), ids = E.encode(M, E.normalize(M, text));
      const fresh = E.run(M, ids, f, true), free = E.run(M, ids, null, false);
      const eq = (a, b) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
      const kept = E.continuation(M, E.encode(M, c.cont_prefix), cont.n, f);
      return { arrays: ["R", "Z", "H_tilde", "H", "logp"].every((k) => eq(r.trace[k], fresh.trace[k])),
               ppl: Object.is(r.ppl_forced, fresh.ppl) && Object.is(r.ppl_free, free.ppl),
               cont: c.cont_forced === E.decode(M, kept) }; }""", [SHORT, cont])
    assert same == {"arrays": True, "ppl": True, "cont": True}


def test_forget_stops_a_guess_before_it_is_sent(page):
    page.evaluate("""async (text) => { const f = """ + Z + """;
      await gvRun("job", { text, force: f(0.6), maxChars: 500 });
      sentToViews.length = 0;
      const asked = gvRun("job", { text, force: f(0.65), maxChars: 500 });
      gvClient.forget(); // a class question opens while the job runs
      await asked; }""", SHORT)
    page.wait_for_timeout(500)
    sent = page.evaluate("sentToViews")
    assert [m["z"] for m in sent] == [0.65] and not any(m["guess"] for m in sent)
