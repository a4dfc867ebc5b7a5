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
    const t0 = performance.now();
    const out = q.type === "curve" ? E.curve(M, q) : q.type === "point" ? E.point(M, q) : E.job(M, q);
    // the trace's arrays move to the page instead of being copied; ms: the worker's own time (benchmarks)
    const moved = out.trace ? Object.values(out.trace).map((a) => a.buffer) : [];
    self.postMessage({ type: q.type, seq: q.seq, result: out, ms: performance.now() - t0 }, moved);
  } catch (err) {
    self.postMessage({ type: "error", seq: q.seq, message: String(err && err.message || err) });
  }
};`;
}

// The page's side: two workers per page, one model at a time: the first computes the views' jobs, the second the
// degradation curve's points, so a moved control never waits behind the curve; only the latest job of each
// kind is computed (a drag sends many settings; those overtaken while one runs are dropped, never queued).
// Where no worker can be made, one lane on the page's thread does both, jobs first.
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
      for (let i = 0; i < 2; i++) this.lanes.push(this._lane(new Worker(url))); // the views', then the curve's
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
      // a job a worker lost is asked again (a newer one of its kind wins); a lost curve point is asked again
      // anyway (the curve moves on only when a point comes back)
      if (l.inflight && l.inflight.type !== "point" && !this.pending.has(l.inflight.type)) {
        this.pending.set(l.inflight.type, l.inflight);
      }
    }
    const E = gvModelEngine();
    let M = null;
    const lane = { busy: false, loaded: false, inflight: null };
    lane.worker = { postMessage: (q) => setTimeout(() => {
      try {
        if (q.type === "load") { M = E.prepare(q.model); this._reply(lane, { type: "loaded", model: M.id }); return; }
        if (!M || q.model !== M.id) throw new Error("the model is not loaded");
        const out = q.type === "curve" ? E.curve(M, q) : q.type === "point" ? E.point(M, q) : E.job(M, q);
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

  get loaded() { return this.lanes.length > 0 && this.lanes.every((l) => l.loaded); } // every lane has the model

  // kind: "job" or "curve"; the latest job of a kind replaces one still waiting. A curve is computed one
  // strength at a time, so where it shares a lane with the jobs, a job waits for at most one point.
  submit(kind, q) {
    const job = { ...q, type: kind, model: this.model, seq: ++this.seq };
    if (kind === "curve") this.curveJob = { q: job, i: 0, ppl: [] };
    else this.pending.set(kind, job);
    this._pump();
  }

  _pump() {
    const last = this.lanes[this.lanes.length - 1];
    for (const lane of this.lanes) {
      if (lane.busy || !lane.loaded) continue;
      let q = null;
      if (lane === this.lanes[0]) {
        for (const [kind, job] of this.pending) {
          this.pending.delete(kind);
          q = job;
          break;
        }
      }
      const c = this.curveJob;
      if (!q && lane === last && c && c.i <= c.q.points) q = { ...c.q, type: "point", s: c.i / c.q.points };
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
      lane.busy = false;
      lane.inflight = null;
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

  terminate() { for (const l of this.lanes) l.worker.terminate(); }
}
