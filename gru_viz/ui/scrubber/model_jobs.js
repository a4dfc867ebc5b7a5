// The model worker's jobs: what the page asks for (a traced probe with perplexities and top characters, its
// continuations, one point of the degradation curve, a whole curve), built on the engine's steps
// (model_engine.js) and kept per text and setting so that moving one control recomputes only what it changes.
// Runs inside the worker, whose source carries this function beside the engine's (model_worker.js).

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

  // E.run kept per forcing: a text that starts as the last one of that forcing did (a character typed at the
  // end) is computed from the step where they part. What comes before is that run's own numbers (states,
  // log-probabilities) and the loss is summed again over all steps in the same order, so the result is, bit for
  // bit, a run from the start's.
  const kept = new Map();
  function runKept(M, ids, force, record) {
    const key = `${M.id}|${JSON.stringify(force || null)}|${record ? 1 : 0}`;
    const prev = kept.get(key), h = M.h, v = M.v, T = ids.length;
    kept.delete(key);
    let k = 0;
    if (prev) while (k < Math.min(prev.ids.length, T) && prev.ids[k] === ids[k]) k++;
    const tr = {};
    for (const n of record ? ["R", "Z", "H_tilde", "H", "logp"] : ["H", "logp"]) {
      const w = n === "logp" ? v : h;
      tr[n] = new Float64Array(T * w);
      if (k) tr[n].set(prev.trace[n].subarray(0, k * w));
    }
    const F = E.forceOf(M, force);
    let hPrev = k ? tr.H.slice((k - 1) * h, k * h) : new Float64Array(h), H = new Float64Array(h);
    const R = new Float64Array(h), Z = new Float64Array(h), Ht = new Float64Array(h), tmp = new Float64Array(h);
    const logits = new Float64Array(v), lp = new Float64Array(v);
    for (let t = k; t < T; t++) {
      E.step(M, F, ids[t], t, hPrev, R, Z, Ht, H, logits, tmp);
      E.logSoftmax(logits, lp, 0, v);
      tr.logp.set(lp, t * v);
      tr.H.set(H, t * h);
      if (record) { tr.R.set(R, t * h); tr.Z.set(Z, t * h); tr.H_tilde.set(Ht, t * h); }
      [hPrev, H] = [H, hPrev];
    }
    let loss = 0;
    for (let t = 0; t + 1 < T; t++) loss -= tr.logp[t * v + ids[t + 1]];
    kept.set(key, { ids: ids.slice(), trace: tr });
    if (kept.size > 16) kept.delete(kept.keys().next().value);
    const ppl = T >= 2 ? E.perplexityOf(loss / (T - 1)) : NaN;
    // the page gets copies (its arrays are moved to it); the kept ones stay here
    return { ppl, trace: record ? Object.fromEntries(Object.entries(tr).map(([n, a]) => [n, a.slice()])) : null };
  }

  // the probe as gru_viz.ui.probe.probe_text reads it: normalised, cut to q.maxChars characters (code points)
  function probeText(M, q) {
    const text = E.normalize(M, q.text || "");
    return q.maxChars ? Array.from(text).slice(0, q.maxChars).join("") : text;
  }

  // gru_viz.ui.probe.probe_prefix: the probe's first words (about 14 characters, ended at a space)
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
    const res = { model: M.id, version: E.VERSION, seq: q.seq, pair: q.pair, text, ids, steps: ids.length, hidden: M.h,
      vocab: M.v, force: q.force, tag: q.tag };
    if (!ids.length) return res;
    const forced = runKept(M, ids, q.force, true);
    res.trace = forced.trace;
    res.top = topK(forced.trace.logp, ids.length, M.v);
    res.ppl_forced = forced.ppl;
    res.ppl_free = q.freeToo === false ? null : remember(`${M.id}|free|${text}`, () => runKept(M, ids, null, false).ppl);
    if (q.cont) Object.assign(res, continuations(M, text, q.cont, q.force));
    return res;
  }

  // the greedy continuations, forced and free, of n characters after the probe's first words (c.fromProbe) or
  // of c.prefix, kept per prefix and forcing
  function continuations(M, text, c, force) {
    const prefix = c.fromProbe ? probePrefix(text) : E.normalize(M, c.prefix ?? "");
    const pre = E.encode(M, prefix);
    return { cont_prefix: prefix,
      cont_forced: remember(`${M.id}|cont|${c.n}|${pre.join(",")}|${JSON.stringify(force)}`,
        () => E.decode(M, continuation(M, pre, c.n, force))),
      cont_free: remember(`${M.id}|cont|${c.n}|${pre.join(",")}`, () => E.decode(M, continuation(M, pre, c.n, null))) };
  }

  // the continuations alone (q.cont as in job), asked apart from the job so that its numbers come first
  function cont(M, q) {
    return { model: M.id, seq: q.seq, pair: q.pair, ...continuations(M, probeText(M, q), q.cont, q.force) };
  }

  // one point of the degradation curve: the probe's perplexity at strength q.s of the forcing's gates
  function point(M, q) {
    const text = probeText(M, q);
    const ids = E.encode(M, text);
    const f = { ...q.force, strength: q.s };
    const ppl = ids.length < 2 ? NaN : q.s === 0 ? remember(`${M.id}|free|${text}`, () => runKept(M, ids, null, false).ppl)
      : remember(`${M.id}|pt|${JSON.stringify(f)}|${text}`, () => runKept(M, ids, f, false).ppl);
    return { model: M.id, seq: q.seq, i: q.i, s: q.s, ppl };
  }

  function curve(M, q) {
    const s = [], ppl = [];
    for (let i = 0; i <= q.points; i++) {
      s.push(i / q.points);
      ppl.push(point(M, { ...q, s: i / q.points }).ppl);
    }
    return { model: M.id, seq: q.seq, strengths: s, ppl };
  }


  // d2l's predict_ch8, greedy: warm up on the prefix, then append the argmax n times (ties: the first index)
  function continuation(M, prefixIds, n, force) {
    const F = E.forceOf(M, force);
    const h = M.h;
    let hPrev = new Float64Array(h), H = new Float64Array(h);
    const R = new Float64Array(h), Z = new Float64Array(h), Ht = new Float64Array(h), tmp = new Float64Array(h);
    const logits = new Float64Array(M.v);
    const ids = prefixIds.length ? prefixIds.slice() : [0];
    const out = [ids[0]];
    let t = 0;
    for (let i = 1; i < ids.length; i++, t++) {
      E.step(M, F, out[out.length - 1], t, hPrev, R, Z, Ht, H, logits, tmp);
      [hPrev, H] = [H, hPrev];
      out.push(ids[i]);
    }
    for (let k = 0; k < n; k++, t++) {
      E.step(M, F, out[out.length - 1], t, hPrev, R, Z, Ht, H, logits, tmp);
      [hPrev, H] = [H, hPrev];
      let best = 0;
      for (let j = 1; j < M.v; j++) if (logits[j] > logits[best]) best = j;
      out.push(best);
    }
    return out;
  }

  // the TOP_K most probable next tokens per step, in np.argsort(-p, kind="stable")'s order
  function topK(logp, T, v, k = E.TOP_K) {
    const idx = new Uint16Array(T * k), p = new Float64Array(T * k);
    for (let t = 0; t < T; t++) {
      const order = Array.from({ length: v }, (_, i) => i);
      order.sort((a, b) => logp[t * v + b] - logp[t * v + a] || a - b);
      for (let j = 0; j < Math.min(k, v); j++) {
        idx[t * k + j] = order[j];
        p[t * k + j] = Math.exp(logp[t * v + order[j]]);
      }
    }
    return { idx, p, k };
  }

  return { job, cont, point, curve, probeText, probePrefix, runKept, continuation, topK };
}
