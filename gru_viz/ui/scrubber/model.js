// The GRU's forward pass in the browser: d2l's equations (or nn.GRU's), float64, in a Web Worker.
//
// The weights arrive once per model (gru_viz/model_payload.py, version 1) and are checked here before any step
// runs. Every product is a dot product over a transposed weight with four accumulators (2-3x faster in V8 than
// adding scaled rows). The worker is made from a Blob of gvModelEngine's own source, because the component has
// no URL of its own (and an exported page opened from file:// has none either); where a worker cannot be made,
// the same engine runs on the page's thread.

const GV_MODEL_VERSION = 1;

function gvModelEngine() {
  const VERSION = 1;
  const KIND = "gru_viz.model";
  const TOP_K = 5;

  function bytesOf(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  // little-endian float32 or float64 widened to float64 exactly
  function toF64(b64, dtype, n, name) {
    const bytes = bytesOf(b64);
    const w = dtype === "float64" ? 8 : 4;
    if (bytes.length !== n * w) throw new Error(`${name}: ${bytes.length} bytes, expected ${n * w}`);
    const view = new DataView(bytes.buffer);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = w === 8 ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true);
      if (!Number.isFinite(x)) throw new Error(`${name}: a value is not finite`);
      out[i] = x;
    }
    return out;
  }

  function shapes(convention, v, h) {
    if (convention === "d2l") {
      return { W_xz: [v, h], W_hz: [h, h], b_z: [h], W_xr: [v, h], W_hr: [h, h], b_r: [h],
        W_xh: [v, h], W_hh: [h, h], b_h: [h], W_hq: [h, v], b_q: [v] };
    }
    if (convention === "torch") {
      return { weight_ih: [3 * h, v], weight_hh: [3 * h, h], bias_ih: [3 * h], bias_hh: [3 * h],
        linear_weight: [v, h], linear_bias: [v] };
    }
    throw new Error(`unknown convention ${JSON.stringify(convention)}`);
  }

  // (rows x cols) row-major -> (cols x rows) row-major
  function transpose(a, rows, cols) {
    const out = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
    return out;
  }

  // The payload checked as gru_viz.model_payload.read_model_payload checks it; the weights made ready to run.
  function prepare(p) {
    if (!p || p.kind !== KIND) throw new Error("not a gru_viz model payload");
    if (p.version !== VERSION) throw new Error(`model payload version ${p.version}, this page knows ${VERSION}`);
    const tok = p.tokens || {};
    if (tok.mode !== "d2l" && tok.mode !== "raw") throw new Error(`unknown tokenisation ${JSON.stringify(tok.mode)}`);
    const tokens = tok.idx_to_token;
    if (!Array.isArray(tokens) || tokens[0] !== "<unk>") throw new Error("a vocabulary must start with <unk>");
    if (new Set(tokens).size !== tokens.length) throw new Error("a vocabulary must not repeat tokens");
    const v = p.vocab_size, h = p.hidden;
    if (v !== tokens.length || !Number.isInteger(h) || h < 1) throw new Error("vocabulary or hidden size mismatch");
    if (p.dtype !== "float32" && p.dtype !== "float64") throw new Error(`unknown dtype ${p.dtype}`);
    const want = shapes(p.convention, v, h);
    const t = {};
    for (const [name, shape] of Object.entries(want)) {
      const e = (p.tensors || {})[name];
      if (!e || JSON.stringify(e.shape) !== JSON.stringify(shape)) throw new Error(`${name}: wrong shape`);
      t[name] = toF64(e.data, p.dtype, shape.reduce((a, b) => a * b, 1), name);
    }
    const index = new Map();
    tokens.forEach((s, i) => { if (i > 0) index.set(s, i); });
    const M = { id: p.id, convention: p.convention, v, h, mode: tok.mode, tokens, index,
      shown: [tok.unk_shown ?? "<unk>", ...tokens.slice(1)] };
    if (p.convention === "d2l") {
      // input terms are rows of W_x* (one-hot X); recurrent and output products are dots over W^T's rows
      Object.assign(M, { xz: t.W_xz, xr: t.W_xr, xh: t.W_xh, bz: t.b_z, br: t.b_r, bh: t.b_h, bq: t.b_q,
        hzT: transpose(t.W_hz, h, h), hrT: transpose(t.W_hr, h, h), hhT: transpose(t.W_hh, h, h),
        hqT: transpose(t.W_hq, h, v) });
    } else {
      // W_ih x is W_ih's column at the token: a row of W_ih^T (v x 3h); W_hh h and W h are dots over rows
      Object.assign(M, { ihT: transpose(t.weight_ih, 3 * h, v), whh: t.weight_hh, bih: t.bias_ih, bhh: t.bias_hh,
        lw: t.linear_weight, lb: t.linear_bias });
    }
    return M;
  }

  // --- text -> tokens, as gru_viz.data.Vocab.normalize / encode -------------------------------------------
  // Python's str.splitlines boundaries: \r\n and each of these characters
  const LINES = /\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/;

  function normalize(M, text) {
    if (M.mode === "d2l") {
      // d2l's preprocess: per line, runs of non-letters -> one space, strip, lowercase; joined with nothing
      return text.split(LINES).map((l) => l.replace(/[^A-Za-z]+/g, " ").trim().toLowerCase()).join("");
    }
    return text.replace(/\r\n/g, "\n").replace(/\r/g, "\n");
  }

  // one token per code point (Python iterates code points; a surrogate pair is one character there)
  const encode = (M, text) => Array.from(text, (ch) => M.index.get(ch) ?? 0);
  const decode = (M, ids) => Array.from(ids, (i) => M.shown[i]).join("");

  // --- forcing: {R, Z: null | {value, units: null | [..], steps: null | [start, stop)}, strength} ----------
  function forceOf(M, f) {
    const one = (g) => {
      if (!g || g.value === null || g.value === undefined) return null;
      if (!(g.value >= 0 && g.value <= 1)) throw new Error("a forced gate value must lie in [0, 1]");
      let mask = null;
      if (g.units) {
        mask = new Uint8Array(M.h);
        for (const u of g.units) {
          if (!Number.isInteger(u) || u < 0 || u >= M.h) throw new Error(`unit ${u} outside 0-${M.h - 1}`);
          mask[u] = 1;
        }
      }
      return { value: g.value, mask, start: g.steps ? g.steps[0] : -Infinity, stop: g.steps ? g.steps[1] : Infinity };
    };
    const s = f && f.strength !== undefined ? f.strength : 1;
    if (!(s >= 0 && s <= 1)) throw new Error("a forcing strength must lie in [0, 1]");
    return { R: one(f && f.R), Z: one(f && f.Z), s };
  }

  // gate = (1 − s)·free + s·value on forced units at forced steps (s = 1: the value itself)
  function applyForce(g, gate, t, s, h) {
    if (!g || t < g.start || t >= g.stop) return;
    for (let j = 0; j < h; j++) {
      if (g.mask && !g.mask[j]) continue;
      gate[j] = s === 1 ? g.value : (1 - s) * gate[j] + s * g.value;
    }
  }

  function dot(w, off, x, n) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, i = 0;
    for (; i + 3 < n; i += 4) {
      a0 += w[off + i] * x[i];
      a1 += w[off + i + 1] * x[i + 1];
      a2 += w[off + i + 2] * x[i + 2];
      a3 += w[off + i + 3] * x[i + 3];
    }
    for (; i < n; i++) a0 += w[off + i] * x[i];
    return (a0 + a1) + (a2 + a3);
  }

  const sigmoid = (x) => 1 / (1 + Math.exp(-x));

  // One step from hPrev reading token `tok` at time t; writes R, Z, Ht, H (length h) and logits (length v).
  function step(M, F, tok, t, hPrev, R, Z, Ht, H, logits, tmp) {
    const h = M.h;
    if (M.convention === "d2l") {
      const o = tok * h;
      for (let j = 0; j < h; j++) Z[j] = sigmoid(M.xz[o + j] + dot(M.hzT, j * h, hPrev, h) + M.bz[j]);
      applyForce(F.Z, Z, t, F.s, h);
      for (let j = 0; j < h; j++) R[j] = sigmoid(M.xr[o + j] + dot(M.hrT, j * h, hPrev, h) + M.br[j]);
      applyForce(F.R, R, t, F.s, h);
      for (let j = 0; j < h; j++) tmp[j] = R[j] * hPrev[j];
      for (let j = 0; j < h; j++) Ht[j] = Math.tanh(M.xh[o + j] + dot(M.hhT, j * h, tmp, h) + M.bh[j]);
      for (let j = 0; j < h; j++) H[j] = Z[j] * hPrev[j] + (1 - Z[j]) * Ht[j];
      for (let k = 0; k < M.v; k++) logits[k] = dot(M.hqT, k * h, H, h) + M.bq[k];
    } else {
      // nn.GRU: r, z, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h; rows r, z, n
      const o = tok * 3 * h;
      for (let j = 0; j < h; j++) {
        R[j] = sigmoid((M.ihT[o + j] + M.bih[j]) + (dot(M.whh, j * h, hPrev, h) + M.bhh[j]));
        Z[j] = sigmoid((M.ihT[o + h + j] + M.bih[h + j]) + (dot(M.whh, (h + j) * h, hPrev, h) + M.bhh[h + j]));
      }
      applyForce(F.Z, Z, t, F.s, h);
      applyForce(F.R, R, t, F.s, h);
      for (let j = 0; j < h; j++) {
        const hn = dot(M.whh, (2 * h + j) * h, hPrev, h) + M.bhh[2 * h + j];
        Ht[j] = Math.tanh((M.ihT[o + 2 * h + j] + M.bih[2 * h + j]) + R[j] * hn);
        H[j] = (1 - Z[j]) * Ht[j] + Z[j] * hPrev[j];
      }
      for (let k = 0; k < M.v; k++) logits[k] = dot(M.lw, k * h, H, h) + M.lb[k];
    }
  }

  function logSoftmax(logits, out, off, v) {
    let m = -Infinity;
    for (let k = 0; k < v; k++) if (logits[k] > m) m = logits[k];
    let s = 0;
    for (let k = 0; k < v; k++) s += Math.exp(logits[k] - m);
    const c = m + Math.log(s);
    for (let k = 0; k < v; k++) out[off + k] = logits[k] - c;
  }

  const perplexityOf = (meanLoss) => (!Number.isFinite(meanLoss) || meanLoss > 700 ? Infinity : Math.exp(meanLoss));

  // Run over ids from a zero state. record: keep R, Z, H̃, H (T·h) and log-probabilities (T·v) of every step.
  // Returns the perplexity of predicting ids[1..] (gru_viz.inference.text_perplexity) and, when recorded, arrays.
  function run(M, ids, force, record) {
    const F = forceOf(M, force);
    const h = M.h, v = M.v, T = ids.length;
    let hPrev = new Float64Array(h), H = new Float64Array(h);
    const R = new Float64Array(h), Z = new Float64Array(h), Ht = new Float64Array(h), tmp = new Float64Array(h);
    const logits = new Float64Array(v), lp = new Float64Array(v);
    const out = record ? { R: new Float64Array(T * h), Z: new Float64Array(T * h), H_tilde: new Float64Array(T * h),
      H: new Float64Array(T * h), logp: new Float64Array(T * v) } : null;
    let loss = 0;
    for (let t = 0; t < T; t++) {
      step(M, F, ids[t], t, hPrev, R, Z, Ht, H, logits, tmp);
      logSoftmax(logits, lp, 0, v);
      if (t + 1 < T) loss -= lp[ids[t + 1]];
      if (out) {
        out.R.set(R, t * h); out.Z.set(Z, t * h); out.H_tilde.set(Ht, t * h); out.H.set(H, t * h);
        out.logp.set(lp, t * v);
      }
      [hPrev, H] = [H, hPrev];
    }
    const ppl = T >= 2 ? perplexityOf(loss / (T - 1)) : NaN;
    return { ppl, trace: out, last: hPrev };
  }

  // d2l's predict_ch8, greedy: warm up on the prefix, then append the argmax n times (ties: the first index)
  function continuation(M, prefixIds, n, force) {
    const F = forceOf(M, force);
    const h = M.h;
    let hPrev = new Float64Array(h), H = new Float64Array(h);
    const R = new Float64Array(h), Z = new Float64Array(h), Ht = new Float64Array(h), tmp = new Float64Array(h);
    const logits = new Float64Array(M.v);
    const ids = prefixIds.length ? prefixIds.slice() : [0];
    const out = [ids[0]];
    let t = 0;
    for (let i = 1; i < ids.length; i++, t++) {
      step(M, F, out[out.length - 1], t, hPrev, R, Z, Ht, H, logits, tmp);
      [hPrev, H] = [H, hPrev];
      out.push(ids[i]);
    }
    for (let k = 0; k < n; k++, t++) {
      step(M, F, out[out.length - 1], t, hPrev, R, Z, Ht, H, logits, tmp);
      [hPrev, H] = [H, hPrev];
      let best = 0;
      for (let j = 1; j < M.v; j++) if (logits[j] > logits[best]) best = j;
      out.push(best);
    }
    return out;
  }

  // the TOP_K most probable next tokens per step, in np.argsort(-p, kind="stable")'s order
  function topK(logp, T, v, k = TOP_K) {
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
    const text = normalize(M, q.text || "");
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
    const ids = encode(M, text);
    const res = { model: M.id, version: VERSION, seq: q.seq, text, ids, steps: ids.length, hidden: M.h, vocab: M.v,
      force: q.force, tag: q.tag };
    if (!ids.length) return res;
    const forced = run(M, ids, q.force, true);
    res.trace = forced.trace;
    res.top = topK(forced.trace.logp, ids.length, M.v);
    res.ppl_forced = forced.ppl;
    res.ppl_free = q.freeToo === false ? null : remember(`${M.id}|free|${text}`, () => run(M, ids, null, false).ppl);
    if (q.cont) {
      res.cont_prefix = q.cont.fromProbe ? probePrefix(text) : normalize(M, q.cont.prefix ?? "");
      const pre = encode(M, res.cont_prefix);
      res.cont_forced = decode(M, continuation(M, pre, q.cont.n, q.force));
      res.cont_free = remember(`${M.id}|cont|${q.cont.n}|${pre.join(",")}`,
        () => decode(M, continuation(M, pre, q.cont.n, null)));
    }
    return res;
  }

  // one point of the degradation curve: the probe's perplexity at strength q.s of the forcing's gates
  function point(M, q) {
    const text = probeText(M, q);
    const ids = encode(M, text);
    const f = { ...q.force, strength: q.s };
    const ppl = ids.length < 2 ? NaN : q.s === 0 ? remember(`${M.id}|free|${text}`, () => run(M, ids, null, false).ppl)
      : remember(`${M.id}|pt|${JSON.stringify(f)}|${text}`, () => run(M, ids, f, false).ppl);
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

  return { VERSION, TOP_K, prepare, normalize, encode, decode, run, continuation, topK, job, point, curve, step,
    forceOf, probeText, probePrefix };
}

// The worker's own source: the engine plus a message loop that keeps one model and answers jobs in order.
function gvModelWorkerSource() {
  return `"use strict";
const E = (${gvModelEngine.toString()})();
let M = null;
self.onmessage = (ev) => {
  const q = ev.data;
  try {
    if (q.type === "load") { M = E.prepare(q.model); self.postMessage({ type: "loaded", model: M.id }); return; }
    if (!M || q.model !== M.id) throw new Error("the model is not loaded");
    const out = q.type === "curve" ? E.curve(M, q) : q.type === "point" ? E.point(M, q) : E.job(M, q);
    // the trace's arrays move to the page instead of being copied
    const moved = out.trace ? Object.values(out.trace).map((a) => a.buffer) : [];
    self.postMessage({ type: q.type, seq: q.seq, result: out }, moved);
  } catch (err) {
    self.postMessage({ type: "error", seq: q.seq, message: String(err && err.message || err) });
  }
};`;
}

// The page's side: one worker per page, one model at a time, and only the latest job of each kind computed
// (a drag sends many settings; those overtaken while one runs are dropped, never queued).
class GvModelClient {
  constructor() {
    this.seq = 0;
    this.busy = false;
    this.pending = new Map(); // kind -> the latest job not yet sent
    this.handlers = new Map(); // kind -> callback(result)
    this.onerror = () => {};
    this.model = null;
    try {
      const url = URL.createObjectURL(new Blob([gvModelWorkerSource()], { type: "text/javascript" }));
      this.worker = new Worker(url);
      this.worker.onmessage = (ev) => this._reply(ev.data);
      this.worker.onerror = (ev) => { ev.preventDefault(); this._fallback(); };
      this.mode = "worker";
    } catch (err) {
      this._fallback();
    }
  }

  _fallback() {
    // no worker (a page policy, an old browser): the same engine on this thread, one job per task
    if (this.mode === "page") return;
    this.mode = "page";
    this.busy = false; // a job the worker lost is asked again below, with the model
    if (this.worker) this.worker.terminate();
    const E = gvModelEngine();
    let M = null;
    this.worker = { postMessage: (q) => setTimeout(() => {
      try {
        if (q.type === "load") { M = E.prepare(q.model); this._reply({ type: "loaded", model: M.id }); return; }
        if (!M || q.model !== M.id) throw new Error("the model is not loaded");
        const out = q.type === "curve" ? E.curve(M, q) : q.type === "point" ? E.point(M, q) : E.job(M, q);
        this._reply({ type: q.type, seq: q.seq, result: out });
      } catch (err) {
        this._reply({ type: "error", seq: q.seq, message: String(err && err.message || err) });
      }
    }, 0), terminate() {} };
    if (this.modelPayload) this.load(this.modelPayload, true);
  }

  load(payload, again = false) {
    if (this.model === payload.id && !again) return;
    this.model = payload.id;
    this.modelPayload = payload;
    this.loaded = false;
    this.worker.postMessage({ type: "load", model: payload });
  }

  on(kind, fn) { this.handlers.set(kind, fn); }

  // kind: "job" or "curve"; the latest job of a kind replaces one still waiting. A curve is computed one
  // strength at a time, so a job (a control moved again) waits for at most one point, never a whole curve.
  submit(kind, q) {
    const job = { ...q, type: kind, model: this.model, seq: ++this.seq };
    if (kind === "curve") this.curveJob = { q: job, i: 0, ppl: [] };
    else this.pending.set(kind, job);
    this._pump();
  }

  _pump() {
    if (this.busy || !this.loaded) return;
    let q = null;
    for (const [kind, job] of this.pending) {
      this.pending.delete(kind);
      q = job;
      break;
    }
    const c = this.curveJob;
    if (!q && c && c.i <= c.q.points) q = { ...c.q, type: "point", s: c.i / c.q.points };
    if (!q) return;
    this.busy = true;
    this.worker.postMessage(q);
  }

  _reply(m) {
    if (m.type === "loaded") {
      if (m.model === this.model) this.loaded = true;
    } else {
      this.busy = false;
      const c = this.curveJob;
      if (m.type === "error") this.onerror(m.message);
      else if (!m.result || m.result.model !== this.model) { /* an earlier model's answer */ }
      else if (m.type === "point") {
        if (c && m.seq === c.q.seq) {
          c.ppl.push(m.result.ppl);
          c.i += 1;
          if (c.i > c.q.points) {
            this.curveJob = null;
            const strengths = c.ppl.map((_, i) => i / c.q.points);
            (this.handlers.get("curve") || (() => {}))({ model: this.model, seq: c.q.seq, strengths, ppl: c.ppl });
          }
        }
      } else (this.handlers.get(m.type) || (() => {}))(m.result);
    }
    this._pump();
  }

  terminate() { this.worker.terminate(); }
}
