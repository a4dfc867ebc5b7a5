"""The model worker's kept runs (model_jobs.js runKept): a probe typed on from one computed before is computed
from the step where the two texts part, and every number equals a run from the start, bit for bit."""

from __future__ import annotations

import pytest
from engine_page import MODEL, open_engine_page

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.views.model_payload import scratch_payload

pytestmark = pytest.mark.e2e

# In the page: the engine's steps counted; each text run kept (runKept) after the one before it, and run from
# the start (E.run); per text the steps runKept computed and whether perplexity and arrays are the same bits.
RESUME = """([texts, force]) => {
  const E = gvModelEngine(), M = E.prepare(gvClient.modelPayload), step = E.step;
  let steps = 0;
  E.step = (...a) => { steps += 1; return step(...a); };
  return texts.map((text) => {
    const ids = E.encode(M, text), before = steps;
    const kept = E.runKept(M, ids, force, true), counted = steps - before, full = E.run(M, ids, force, true);
    const same = Object.is(kept.ppl, full.ppl) && Object.keys(full.trace).every((k) =>
      kept.trace[k].length === full.trace[k].length && kept.trace[k].every((x, i) => Object.is(x, full.trace[k][i])));
    return {steps: counted, T: ids.length, same};
  });
}"""

BASE = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us"


@pytest.mark.parametrize("force", [None, {"R": {"value": 0.2, "units": [1, 5, 9, 200], "steps": [10, 60]},
                                          "Z": {"value": 1, "units": None, "steps": None}, "strength": 0.5}])
def test_a_probe_typed_on_is_computed_from_where_it_parts_and_equals_a_run_from_the_start(browser, tmp_path, force):
    stored = load_checkpoint(MODEL)
    ctx, page, errors = open_engine_page(browser, tmp_path, scratch_payload(stored.model, stored.vocab))
    middle = BASE[:40] + "q" + BASE[41:]
    texts = [BASE, BASE + "s", BASE + "st", middle, BASE[:30], "x"]
    got = page.evaluate(RESUME, [texts, force])
    ctx.close()
    assert not errors, errors
    assert all(g["same"] for g in got), got
    T = [g["T"] for g in got]
    # the first text from the start; one step per typed character; from the changed character on; nothing for
    # a text that is the start of the one before; one step for a text that parts at its first character
    assert [g["steps"] for g in got] == [T[0], 1, 1, T[3] - 40, 0, 1], got
