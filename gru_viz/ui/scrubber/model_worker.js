// The model worker: a Web Worker made from a Blob of the engine's and the jobs' own source (the component has no
// URL, nor has an exported page opened from file://), or the same engine on the page's thread where a worker
// cannot be made; and the page's client, which computes only the latest job of each kind (the views' jobs and
// the curve's points in two workers).

// The worker's own source: the engine plus a message loop that keeps one model and answers jobs in order.
function gvModelWorkerSource() {
  return `"use strict";
${gvModelJobs.toString()}
const E = (${gvModelEngine.toString()})();
let M = null;
self.onmessage = (ev) => {
  const q = ev.data;
  try {
    if (q.type === "load") { M = E.prepare(q.model); self.postMessage({ type: "loaded", model: M.id }); return; }
    if (!M || q.model !== M.id) throw new Error("the model is not loaded");
    if (!["job", "cont", "point", "curve"].includes(q.type)) throw new Error("unknown job " + q.type);
    const t0 = performance.now();
    const out = E[q.type](M, q); // job, cont, point or curve
    // the trace's arrays move to the page instead of being copied; ms: the worker's own time (benchmarks)
    const moved = out.trace ? Object.values(out.trace).map((a) => a.buffer) : [];
    self.postMessage({ type: q.type, seq: q.seq, result: out, ms: performance.now() - t0 }, moved);
  } catch (err) {
    self.postMessage({ type: "error", seq: q.seq, message: String(err && err.message || err) });
  }
};`;
}

// A drag's next setting is most often the same step again (a slider's step, an arrow key): from two forcings
// that differ in one value (R's, Z's or the strength) by d, the forcing with that value moved by d once more, or
// null (anything else changed, or it would leave [0, 1]). Rounded to 1e-9 as a slider's own value is.
function gvNextForce(a, b) {
  if (!a || !b) return null;
  const keys = [["R", "value"], ["Z", "value"], ["strength"]];
  const get = (f, k) => (k.length === 1 ? f[k[0]] : f[k[0]] && f[k[0]][k[1]]);
  const set = (f, k, x) => { if (k.length === 1) f[k[0]] = x; else f[k[0]][k[1]] = x; return f; };
  const moved = keys.filter((k) => get(a, k) !== get(b, k));
  if (moved.length !== 1) return null;
  const k = moved[0], x = get(a, k), y = get(b, k);
  if (typeof x !== "number" || typeof y !== "number") return null;
  if (JSON.stringify(set(JSON.parse(JSON.stringify(a)), k, y)) !== JSON.stringify(b)) return null; // one change
  const z = Number((2 * y - x).toFixed(9));
  return z >= 0 && z <= 1 && z !== y ? set(JSON.parse(JSON.stringify(b)), k, z) : null;
}

// The page's side: two workers per page, one model at a time. The first computes the views' jobs (it keeps the
// last run of each forcing, so a typed character costs one step there) and the continuations after them; the
// degradation curve's points are shared between the two (point i to worker i mod 2, which keeps its
// run of that strength for the next character) and wait while a views job runs or waits. Only the latest job of
// each kind is computed (a drag sends many settings; those overtaken while one runs are dropped, never queued).
// When nothing waits, the views' worker computes the guessed next setting (gvNextForce), answer dropped: its runs
// kept, that setting's job is then a copy, not a trace. Where no worker can be made, one lane on the page's
// thread does all, jobs first, and guesses nothing.
class GvModelClient {
  constructor() {
    this.seq = 0;
    this.pending = new Map(); // kind -> the latest job not yet sent
    this.handlers = new Map(); // kind -> callback(result)
    this.onerror = () => {};
    this.model = null;
    this.lanes = [];
    try {
      const url = URL.createObjectURL(new Blob([gvModelWorkerSource()], { type: "text/javascript" }));
      for (let i = 0; i < 2; i++) this.lanes.push(this._lane(new Worker(url)));
      this.mode = "worker";
    } catch (err) {
      this._fallback();
    }
  }

  _lane(worker) {
    const lane = { worker, busy: false, loaded: false, inflight: null };
    worker.onmessage = (ev) => this._reply(lane, ev.data);
    worker.onerror = (ev) => { ev.preventDefault(); this._fallback(); };
    return lane;
  }

  _fallback() {
    // no worker (a page policy, an old browser): the same engine on this thread, one job per task
    if (this.mode === "page") return;
    this.mode = "page";
    for (const l of this.lanes) {
      l.worker.terminate();
      // a job a worker lost is asked again (a newer one of its kind wins), and so is a lost point of the curve
      const q = l.inflight;
      if (q && q.type === "point") {
        if (this.curveJob && this.curveJob.q.seq === q.seq) this.curveJob.sent.delete(q.i);
      } else if (q && !q.guess && !this.pending.has(q.type)) this.pending.set(q.type, q);
    }
    this.guess = null;
    const E = gvModelEngine();
    let M = null;
    const lane = { busy: false, loaded: false, inflight: null };
    lane.worker = { postMessage: (q) => setTimeout(() => {
      try {
        if (q.type === "load") { M = E.prepare(q.model); this._reply(lane, { type: "loaded", model: M.id }); return; }
        if (!M || q.model !== M.id) throw new Error("the model is not loaded");
        const out = E[q.type](M, q);
        this._reply(lane, { type: q.type, seq: q.seq, result: out });
      } catch (err) {
        this._reply(lane, { type: "error", seq: q.seq, message: String(err && err.message || err) });
      }
    }, 0), terminate() {} };
    this.lanes = [lane];
    if (this.modelPayload) this.load(this.modelPayload, true);
  }

  load(payload, again = false) {
    if (this.model === payload.id && !again) return;
    this.model = payload.id;
    this.modelPayload = payload;
    for (const l of this.lanes) {
      l.loaded = false;
      l.worker.postMessage({ type: "load", model: payload });
    }
  }

  on(kind, fn) { this.handlers.set(kind, fn); }

  // a job running or waiting, or a curve not complete (a guess is not work anyone waits for)
  get busy() {
    return this.lanes.some((l) => l.busy && !l.inflight.guess) || this.pending.size > 0 || !!this.curveJob;
  }

  get loaded() { return this.lanes.length > 0 && this.lanes.every((l) => l.loaded); } // every lane has the model

  // kind: "job", "cont" or "curve"; the latest job of a kind replaces one still waiting. A curve is computed one
  // strength at a time, so a job waits for at most one point of it.
  submit(kind, q) {
    const job = { ...q, type: kind, model: this.model, seq: ++this.seq };
    if (kind === "curve") this.curveJob = { q: job, sent: new Set(), got: 0, ppl: new Array(job.points + 1).fill(null) };
    else this.pending.set(kind, job);
    if (kind === "job") {
      const prev = this.lastJob, same = prev && prev.text === job.text && prev.maxChars === job.maxChars;
      const next = same && this.mode === "worker" ? gvNextForce(prev.force, job.force) : null;
      this.guess = next && { ...job, force: next, seq: 0, guess: true, cont: this.lastCont };
      this.lastJob = job;
    } else if (kind === "cont") this.lastCont = job.cont; // the guess computes the continuations too (kept)
    this._pump();
  }

  forget() { this.guess = this.lastJob = null; } // a class question opened: nothing forced is computed, guessed or not

  // the curve's next point for lane number li, or null (all sent, or none of this lane's left)
  _point(li) {
    const c = this.curveJob, n = this.lanes.length;
    if (!c) return null;
    for (let i = 0; i <= c.q.points; i++) {
      if (!c.sent.has(i) && i % n === li) {
        c.sent.add(i);
        return { ...c.q, type: "point", i, s: i / c.q.points };
      }
    }
    return null;
  }

  _pump() {
    const views = this.lanes[0];
    // the curve gives way while a views job runs or waits (on two cores it would otherwise share one with it);
    // a point already running finishes
    const jobFirst = this.pending.has("job") || (views.busy && views.inflight && views.inflight.type === "job");
    for (const [li, lane] of this.lanes.entries()) {
      if (lane.busy || !lane.loaded) continue;
      let q = null;
      for (const kind of li === 0 ? ["job", "cont"] : []) {
        if (this.pending.has(kind)) {
          q = this.pending.get(kind);
          this.pending.delete(kind);
          break;
        }
      }
      if (!q && !(jobFirst && this.lanes.length > 1)) q = this._point(li);
      if (!q && li === 0 && this.guess && !this.pending.size) [q, this.guess] = [this.guess, null];
      if (!q) continue;
      lane.busy = true;
      lane.inflight = q;
      lane.worker.postMessage(q);
    }
  }

  _reply(lane, m) {
    if (m.type === "loaded") {
      if (m.model === this.model) lane.loaded = true;
    } else {
      const guessed = lane.inflight && lane.inflight.guess;
      lane.busy = false;
      lane.inflight = null;
      const c = this.curveJob;
      if (guessed) { /* its runs are kept in the worker; the answer itself is not shown */ }
      else if (m.type === "error") this.onerror(m.message);
      else if (!m.result || m.result.model !== this.model) { /* an earlier model's answer */ }
      else if (m.type === "point") {
        if (c && m.seq === c.q.seq) {
          c.ppl[m.result.i] = m.result.ppl;
          c.got += 1;
          if (c.got > c.q.points) { // all points: the curve (drawn whole, once: one redraw a setting)
            this.curveJob = null;
            (this.handlers.get("curve") || (() => {}))({ model: this.model, seq: c.q.seq,
              strengths: c.ppl.map((_, i) => i / c.q.points), ppl: c.ppl });
          }
        }
      } else (this.handlers.get(m.type) || (() => {}))(m.result);
    }
    this._pump();
  }

  terminate() { for (const l of this.lanes) l.worker.terminate(); }
}
