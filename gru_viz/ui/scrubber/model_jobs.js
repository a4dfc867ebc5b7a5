// The model worker's jobs: what the page asks for (a traced probe with perplexities and continuations, one point
// of the degradation curve, a whole curve), built on the engine's steps (model_engine.js) and kept per text and
// setting so that moving one control recomputes only what it changes. Runs inside the worker, whose source
// carries this function beside the engine's (model_worker.js).

function gvModelJobs(E) {
  // The job the page asks for: the probe traced under the forcing and free, the perplexities, the
  // continuations, and (curve > 0) the perplexity at strengths 0, 1/curve, … 1 of the same gates.
  // What does not depend on the forcing is kept per text (the free perplexity and continuation), and the
  // curve's points per (text, gates, strength): moving one control recomputes only what it changes.
  const memo = new Map();
  function remember(key, make) {
    if (!memo.has(key)) {
      if (memo.size > 256) memo.delete(memo.keys().next().value);
      memo.set(key, make());
    }
    return memo.get(key);
  }

  // the probe as gru_viz.ui.actions.probe_text reads it: normalised, cut to q.maxChars characters (code points)
  function probeText(M, q) {
    const text = E.normalize(M, q.text || "");
    return q.maxChars ? Array.from(text).slice(0, q.maxChars).join("") : text;
  }

  // gru_viz.ui.actions.probe_prefix: the probe's first words (about 14 characters, ended at a space)
  function probePrefix(text) {
    const a = Array.from(text);
    if (a.length <= 2) return text;
    const head = a.slice(0, Math.min(24, a.length - 1));
    let cut = -1;
    for (let i = head.length - 1; i >= 6; i--) if (head[i] === " ") { cut = i; break; }
    const before = head.slice(0, Math.max(cut, 0)).join("");
    return cut > 0 && before.trim() ? before : head.slice(0, Math.min(14, head.length)).join("");
  }

  function job(M, q) {
    const text = probeText(M, q);
    const ids = E.encode(M, text);
    const res = { model: M.id, version: E.VERSION, seq: q.seq, text, ids, steps: ids.length, hidden: M.h, vocab: M.v,
      force: q.force, tag: q.tag };
    if (!ids.length) return res;
    const forced = E.run(M, ids, q.force, true);
    res.trace = forced.trace;
    res.top = E.topK(forced.trace.logp, ids.length, M.v);
    res.ppl_forced = forced.ppl;
    res.ppl_free = q.freeToo === false ? null : remember(`${M.id}|free|${text}`, () => E.run(M, ids, null, false).ppl);
    if (q.cont) {
      res.cont_prefix = q.cont.fromProbe ? probePrefix(text) : E.normalize(M, q.cont.prefix ?? "");
      const pre = E.encode(M, res.cont_prefix);
      res.cont_forced = E.decode(M, E.continuation(M, pre, q.cont.n, q.force));
      res.cont_free = remember(`${M.id}|cont|${q.cont.n}|${pre.join(",")}`,
        () => E.decode(M, E.continuation(M, pre, q.cont.n, null)));
    }
    return res;
  }

  // one point of the degradation curve: the probe's perplexity at strength q.s of the forcing's gates
  function point(M, q) {
    const text = probeText(M, q);
    const ids = E.encode(M, text);
    const f = { ...q.force, strength: q.s };
    const ppl = ids.length < 2 ? NaN : q.s === 0 ? remember(`${M.id}|free|${text}`, () => E.run(M, ids, null, false).ppl)
      : remember(`${M.id}|pt|${JSON.stringify(f)}|${text}`, () => E.run(M, ids, f, false).ppl);
    return { model: M.id, seq: q.seq, s: q.s, ppl };
  }

  function curve(M, q) {
    const s = [], ppl = [];
    for (let i = 0; i <= q.points; i++) {
      s.push(i / q.points);
      ppl.push(point(M, { ...q, s: i / q.points }).ppl);
    }
    return { model: M.id, seq: q.seq, strengths: s, ppl };
  }


  return { job, point, curve, probeText, probePrefix };
}
