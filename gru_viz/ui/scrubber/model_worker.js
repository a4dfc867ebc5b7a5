// The model worker: a Web Worker made from a Blob of the engine's and the jobs' own source (the component has no
// URL, nor has an exported page opened from file://), or the same engine on the page's thread where a worker
// cannot be made; and the page's client, which computes only the latest job of each kind.

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
