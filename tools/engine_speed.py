#!/usr/bin/env python3
"""The in-browser GRU's arithmetic alone (ui/scrubber/model_engine.js): milliseconds a step in headless Chromium,
for this checkout's engine and, side by side in the same page, another checkout's (`--base DIR`).

    python tools/engine_speed.py [--base /path/to/other/checkout] [--hidden 256] [--rounds 7]

The bundled epoch-500 model (or a random one of `--hidden` units), a 196-character probe, a forcing of Z at 0.5
and ten strengths a round (what a degradation curve computes). The engines alternate round by round in one
page, so a burst of load hits both alike; medians per engine. Prints one JSON line. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import chromium
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SOURCES = ("model_jobs.js", "model_engine.js")
PROBE = ("the traveller held the small machine up to the lamp and we saw that it was made of ivory and a clear "
         "crystal and that one of its levers had been turned so that the whole thing seemed to shiver")

# In the page: each engine made from its own sources (a function per checkout), the model prepared once per
# engine, then rounds of ten runs (strengths 0.1 … 1) alternating between the engines.
TIMING_JS = """([makers, payload, text, rounds]) => {
  const engines = makers.map((src) => { const E = new Function(src + "\\nreturn gvModelEngine();")();
    return { E, M: E.prepare(payload) }; });
  const out = engines.map(() => []);
  const force = (s) => ({ R: null, Z: { value: 0.5, units: null, steps: null }, strength: s });
  const sums = engines.map(({ E, M }) => E.run(M, E.encode(M, text), force(1), true).ppl);
  for (let r = 0; r < rounds + 1; r++) engines.forEach(({ E, M }, k) => {
    const ids = E.encode(M, text), t0 = performance.now();
    for (let i = 1; i <= 10; i++) E.run(M, ids, force(i / 10), false);
    if (r > 0) out[k].push((performance.now() - t0) / (10 * ids.length)); // the first round warms the JIT
  });
  return { ms: out, ppl: sums, steps: Array.from(text).length };
}"""


def _source(checkout: Path) -> str:
    d = checkout / "gru_viz" / "ui" / "scrubber"
    return "\n".join((d / n).read_text(encoding="utf-8") for n in SOURCES)


def _payload(hidden: int) -> dict:
    from gru_viz.checkpoints.checkpoint import load_checkpoint
    from gru_viz.nets.model import GRUScratch
    from gru_viz.views.model_payload import scratch_payload

    stored = load_checkpoint(ROOT / "assets" / "pretrained" / "epoch_0500.safetensors")
    if hidden == stored.model.hidden:
        return scratch_payload(stored.model, stored.vocab)
    return scratch_payload(GRUScratch(len(stored.vocab), hidden), stored.vocab)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, help="another checkout whose engine runs beside this one")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args(argv)
    if a.base is not None and not (a.base / "gru_viz" / "ui" / "scrubber" / "model_engine.js").is_file():
        print(f"engine_speed: {a.base} has no gru_viz/ui/scrubber/model_engine.js", file=sys.stderr)
        return 2
    if not 1 <= a.hidden <= 2048 or not 1 <= a.rounds <= 100:
        print("engine_speed: need 1 <= --hidden <= 2048 and 1 <= --rounds <= 100", file=sys.stderr)
        return 2
    names = ["this"] + (["base"] if a.base else [])
    makers = [_source(ROOT)] + ([_source(a.base)] if a.base else [])
    payload, load = _payload(a.hidden), os.getloadavg()[0]
    with sync_playwright() as pw:
        browser = chromium.launch(pw)
        r = browser.new_page().evaluate(TIMING_JS, [makers, payload, PROBE, a.rounds])  # about:blank
        browser.close()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "unknown")
    out = {"cpu": cpu, "load_average": [round(load, 2), round(os.getloadavg()[0], 2)], "hidden": a.hidden,
           "steps": r["steps"], "rounds": a.rounds,
           **{f"{n}_ms_per_step": round(statistics.median(ms), 4) for n, ms in zip(names, r["ms"])},
           **{f"{n}_ppl": ppl for n, ppl in zip(names, r["ppl"])}}
    if a.base:
        out["this_over_base"] = round(out["base_ms_per_step"] / out["this_ms_per_step"], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
