// The GRU's forward pass in the browser: d2l's equations (or nn.GRU's), float64, in a Web Worker.
//
// The weights arrive once per model (gru_viz/views/model_payload.py, version 1) and are checked here before any step
// runs. Products are matrix-vector products over transposed weights, four rows a pass (2-3x faster in V8 than
// adding scaled rows); a gate forced whole skips its own. The worker runs a Blob of this source (model_worker.js),
// or the page does.

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

  // The payload checked as gru_viz.views.model_payload.read_model_payload checks it; the weights made ready to run.
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
        if (mask.every((m) => m === 1)) mask = null; // every unit listed: the same as none listed
      }
      return { value: g.value, mask, start: g.steps ? g.steps[0] : -Infinity, stop: g.steps ? g.steps[1] : Infinity };
    };
    const s = f && f.strength !== undefined ? f.strength : 1;
    if (!(s >= 0 && s <= 1)) throw new Error("a forcing strength must lie in [0, 1]");
    return { R: one(f && f.R), Z: one(f && f.Z), s };
  }

  const forcedAt = (g, t) => g !== null && t >= g.start && t < g.stop;

  // A gate forced on every unit at full strength at step t: its free value is not used, so neither its product
  // nor its sigmoid is computed (a third of a step's arithmetic each; the result is the same to the last bit).
  const whole = (g, t, s) => s === 1 && forcedAt(g, t) && g.mask === null;

  // gate = (1 − s)·free + s·value on forced units at forced steps (s = 1: the value itself)
  function applyForce(g, gate, t, s, h) {
    if (!forcedAt(g, t)) return;
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

  // Matrix-vector products over W^T's rows (row-major, n columns). Each row's sum is the same whatever rows it is
  // grouped with: even and odd columns in two accumulators (a last odd column into the first), added at the end.
  // Rows go four at a time (two matrices: two rows of each), each x[i] read once for them all: 1.6× faster in
  // Chromium than one four-accumulator dot product per row (tools/engine_speed.py, docs/BENCHMARKS.md).
  function row(w, o, x, n) {
    let a0 = 0, a1 = 0, i = 0;
    for (; i + 1 < n; i += 2) { a0 += w[o + i] * x[i]; a1 += w[o + i + 1] * x[i + 1]; }
    if (i < n) a0 += w[o + i] * x[i];
    return a0 + a1;
  }

  function matVec(w, x, rows, n, out) {
    let j = 0;
    for (; j + 3 < rows; j += 4) {
      const o = j * n, p = o + n, q = p + n, r = q + n;
      let a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, d0 = 0, d1 = 0, i = 0;
      for (; i + 1 < n; i += 2) {
        const x0 = x[i], x1 = x[i + 1];
        a0 += w[o + i] * x0; a1 += w[o + i + 1] * x1;
        b0 += w[p + i] * x0; b1 += w[p + i + 1] * x1;
        c0 += w[q + i] * x0; c1 += w[q + i + 1] * x1;
        d0 += w[r + i] * x0; d1 += w[r + i + 1] * x1;
      }
      if (i < n) { a0 += w[o + i] * x[i]; b0 += w[p + i] * x[i]; c0 += w[q + i] * x[i]; d0 += w[r + i] * x[i]; }
      out[j] = a0 + a1; out[j + 1] = b0 + b1; out[j + 2] = c0 + c1; out[j + 3] = d0 + d1;
    }
    for (; j < rows; j++) out[j] = row(w, j * n, x, n);
  }

  // matVec of two n × n matrices against the same x (Z's and R's recurrent terms), two rows of each at a time
  function matVec2(u, w, x, n, outU, outW) {
    let j = 0;
    for (; j + 1 < n; j += 2) {
      const o = j * n, p = o + n;
      let a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, d0 = 0, d1 = 0, i = 0;
      for (; i + 1 < n; i += 2) {
        const x0 = x[i], x1 = x[i + 1];
        a0 += u[o + i] * x0; a1 += u[o + i + 1] * x1;
        b0 += u[p + i] * x0; b1 += u[p + i + 1] * x1;
        c0 += w[o + i] * x0; c1 += w[o + i + 1] * x1;
        d0 += w[p + i] * x0; d1 += w[p + i + 1] * x1;
      }
      if (i < n) { a0 += u[o + i] * x[i]; b0 += u[p + i] * x[i]; c0 += w[o + i] * x[i]; d0 += w[p + i] * x[i]; }
      outU[j] = a0 + a1; outU[j + 1] = b0 + b1; outW[j] = c0 + c1; outW[j + 1] = d0 + d1;
    }
    if (j < n) { outU[j] = row(u, j * n, x, n); outW[j] = row(w, j * n, x, n); }
  }

  const sigmoid = (x) => 1 / (1 + Math.exp(-x));

  // One step from hPrev reading token `tok` at time t; writes R, Z, Ht, H (length h) and logits (length v).
  function step(M, F, tok, t, hPrev, R, Z, Ht, H, logits, tmp) {
    const h = M.h;
    if (M.convention === "d2l") {
      // the products first (H W_hz and H W_hr in one pass), the sums around them after
      const o = tok * h, { xz, xr, xh, bz, br, bh, bq } = M;
      const zFree = !whole(F.Z, t, F.s), rFree = !whole(F.R, t, F.s);
      if (zFree && rFree) matVec2(M.hzT, M.hrT, hPrev, h, Z, R);
      else if (zFree) matVec(M.hzT, hPrev, h, h, Z);
      else if (rFree) matVec(M.hrT, hPrev, h, h, R);
      if (zFree) for (let j = 0; j < h; j++) Z[j] = sigmoid(xz[o + j] + Z[j] + bz[j]);
      if (rFree) for (let j = 0; j < h; j++) R[j] = sigmoid(xr[o + j] + R[j] + br[j]);
      applyForce(F.Z, Z, t, F.s, h);
      applyForce(F.R, R, t, F.s, h);
      for (let j = 0; j < h; j++) tmp[j] = R[j] * hPrev[j];
      matVec(M.hhT, tmp, h, h, Ht);
      for (let j = 0; j < h; j++) Ht[j] = Math.tanh(xh[o + j] + Ht[j] + bh[j]);
      for (let j = 0; j < h; j++) H[j] = Z[j] * hPrev[j] + (1 - Z[j]) * Ht[j];
      matVec(M.hqT, H, M.v, h, logits);
      for (let k = 0; k < M.v; k++) logits[k] += bq[k];
    } else {
      // nn.GRU: r, z, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h; rows r, z, n
      const o = tok * 3 * h, zFree = !whole(F.Z, t, F.s), rFree = !whole(F.R, t, F.s);
      for (let j = 0; j < h; j++) {
        if (rFree) R[j] = sigmoid((M.ihT[o + j] + M.bih[j]) + (dot(M.whh, j * h, hPrev, h) + M.bhh[j]));
        if (zFree) {
          Z[j] = sigmoid((M.ihT[o + h + j] + M.bih[h + j]) + (dot(M.whh, (h + j) * h, hPrev, h) + M.bhh[h + j]));
        }
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
  // Returns the perplexity of predicting ids[1..] (gru_viz.explain.inference.text_perplexity) and, when recorded, arrays.
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

  const E = { VERSION, TOP_K, prepare, normalize, encode, decode, run, step, forceOf, logSoftmax, perplexityOf };
  return Object.assign(E, gvModelJobs(E));
}
