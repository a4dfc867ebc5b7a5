// ② live: the scrubber's views (heatmaps, state chart, next characters, cell, equation, tape, attribution) drawn
// from the model worker's trace of the setting the controls show, so everything follows a moving control or a
// typed character with no server in between. In the app ② draws its own scrubber below the results; in an
// exported page the panel drives the page's scrubber. A new trace of the same text goes into the figures already
// drawn (Scrubber.retrace); a new text builds the scrubber anew, keeping its step and unit.
// The attribution is the server's, for the setting it last heard (live_force.force_data's "scrub"): shown as it
// is while the page's setting is that one, greyed and said to be stale while it differs.

// one key per (text, forcing) that changes what is computed: every free forcing is the same
function gvTraceKey(text, f) {
  const active = f && (f.R || f.Z);
  return text + "|" + (active ? JSON.stringify([f.R || null, f.Z || null, Number(f.strength ?? 1)]) : "free");
}

// which attribution the server sent (its text, forcing and size), to tell a new one from the one drawn
function gvAttKey(scrub) {
  const a = scrub && scrub.attribution;
  return a ? gvTraceKey(a.text, a.forcing) + "|" + a.data.shown.length + "|" + (a.data.free || "").length : "";
}

// The worker's job result as a scrubber payload: the rows `units` of R, Z, H̃, H (float64, step-major), a zero
// initial state, the top next characters, and the attribution `base` carries when it is of this text.
function gvScrubPayload(r, units, base) {
  const T = r.steps, h = r.hidden, n = units.length;
  const pick = (a) => {
    const out = new Float64Array(T * n);
    for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) out[t * n + i] = a[t * h + units[i]];
    return out;
  };
  const att = base.attribution;
  const fresh = !!att && gvTraceKey(att.text, att.forcing) === gvTraceKey(r.text, r.force);
  return { version: GV_CONTRACT, id: "live-" + r.seq, text: r.text, steps: T, hidden: h, units, top_k: r.top.k,
    tokens: base.tokens, visible: base.visible, forced: gvActive(r.force),
    forcing: { R: r.force.R, Z: r.force.Z, strength: Number(r.force.strength ?? 1) },
    attribution: att && att.text === r.text ? att.data : null, attribution_stale: !!att && !fresh,
    arrays: { R: pick(r.trace.R), Z: pick(r.trace.Z), Ht: pick(r.trace.H_tilde), H: pick(r.trace.H),
      H0: new Float64Array(n), topP: r.top.p, topIdx: r.top.idx } };
}

// Draw payload `lp` in `root`: into the scrubber there when only the numbers changed, else a new one.
// `lazy`: its figures off screen wait until they are scrolled to (scrub_lazy.js).
function gvScrubShow(root, lp, ui, lazy = false) {
  const old = root.__gsc;
  if (old && old.retrace(lp)) return old;
  const keep = old ? { step: old.step, unit: old.unit, gotoN: old.gotoN, lastSent: old.lastSent } : null;
  if (old) old.detach();
  const S = new Scrubber(root, { payload: lp, ui, goto: null, lazy }, keep);
  S.sig = old ? old.sig : null;
  root.__gsc = S;
  S.done.dataset.trace = lp.id;
  S.attach();
  return S;
}

// The panel F's latest result r in the scrubber: ②'s own (F.scrubData from the server) or the page's.
function gvScrubFollow(F, r) {
  if (!r || !r.trace || !r.steps) {
    if (F.scrubBox) F.scrubBox.style.display = "none";
    return;
  }
  if (F.scrubData) {
    const d = F.scrubData;
    let root = F.scrubBox.querySelector(":scope > .gsc-host-root");
    if (!root) root = el("div", "gsc-host-root", F.scrubBox);
    F.scrubBox.style.display = "";
    const units = d.rows || Array.from({ length: r.hidden }, (_, i) => i);
    gvScrubShow(root, gvScrubPayload(r, units, d), { ...d.ui, plotly: F.plotly }, true);
  } else {
    // an exported page: its scrubber was drawn from the server's trace of the setting it was saved with
    const page = window.__gscMounted;
    if (!page || !page.root.isConnected) return;
    if (!F.pageBase) {
      const p = page.p;
      F.pageBase = { tokens: p.tokens, visible: p.visible, units: page.units,
        attribution: p.attribution ? { text: p.text, forcing: p.forcing, data: p.attribution } : null };
    }
    const S = gvScrubShow(page.root, gvScrubPayload(r, F.pageBase.units, F.pageBase), page.ui);
    window.__gscMounted = S;
  }
  F.scrubBox.dataset.painted = String(r.seq);
}
