// The time-step scrubber of gru_viz, in the browser: one recorded trace arrives once (gru_viz/views/scrub_payload.py),
// is drawn once with plotly.js, and every step, hover and click after that is answered here.
//
// Streamlit (custom components v2) calls the default export again on every rerun; it rebuilds only when the
// trace or the labels change, so the rerun that a settled step causes redraws nothing. The same file runs in
// the exported HTML (gru_viz/views/export_html.py), where `setStateValue` does nothing.

const WINDOW = 80; // at most this many steps visible at once along the heatmaps' x axis (fewer on narrow screens)

export default function scrubber(component) {
  const { data, parentElement } = component;
  const host = parentElement;
  let root = host.querySelector(":scope > .gsc-host-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "gsc-host-root";
    host.appendChild(root);
  }
  if (gvContractRefused(root, data.payload && data.payload.version, data.ui && data.ui.labels)) return () => {};
  const sig = data.payload.id + "|" + JSON.stringify(data.ui);
  let S = root.__gsc;
  if (!S || S.sig !== sig) {
    // A rerun can mount the component afresh (an element drawn above it moved it): the scrubber that was there
    // keeps its step, unit and the server's last goto, so a stale goto never sends the student back.
    const old = S || (window.__gscMounted && !window.__gscMounted.root.isConnected ? window.__gscMounted : null);
    const keep = old ? { step: old.step, unit: old.pendingUnit ?? old.unit, gotoN: old.gotoN, lastSent: old.lastSent }
      : null;
    if (old) old.detach();
    S = new Scrubber(root, data, keep);
    S.sig = sig;
    root.__gsc = S;
    window.__gscMounted = S;
  }
  S.send = component.setStateValue || (() => {});
  S.live = Boolean(component.setStateValue); // in the app (the exported HTML has no address to keep)
  if (data.goto && data.goto.n !== S.gotoN) {
    S.gotoN = data.goto.n;
    S.lastSent = data.goto.step + ":" + data.goto.unit; // the server's own values: nothing to tell it
    S.select(data.goto.step, data.goto.unit, false);
  }
  S.attach();
  return () => S.detach();
}

// --- the scrubber ------------------------------------------------------------------------------

class Scrubber {
  constructor(root, data, keep) {
    const p = data.payload, ui = data.ui;
    VISIBLE = { " ": "\u2423", ...(p.visible || {}) };
    this.root = root;
    this.p = p;
    this.ui = ui;
    this.T = p.steps;
    this.units = p.units;
    this.n = p.units.length;
    this.rowOf = new Map(p.units.map((u, i) => [u, i]));
    Object.assign(this, scrubArrays(p));
    this.gateColor = scaleColors(ui.gate_colors);
    this.step = 0;
    this.unit = p.units[0];
    this.gotoN = keep ? keep.gotoN : null;
    this.preview = null;
    this.hoverRow = null;
    this.hoverStep = null;
    this.playing = null;
    this.timer = null;
    this.lastSent = keep ? keep.lastSent : null;
    this.pendingUnit = null;
    this.keyChosen = false;
    this.urlAt = 0;
    this.urlTimer = null;
    this.send = () => {};
    this.live = false;
    this.plots = null;
    this.lazy = !!data.lazy; // ②'s own scrubber: figures off screen wait (scrub_lazy.js)
    this.missed = new Set();
    this.shown = -1;
    this.onKey = (e) => this.key(e);
    this.onOutside = (e) => this.outside(e);
    this.onResize = () => { this.tapeX = null; };
    this.dom();
    if (keep) {
      this.select(keep.step, keep.unit, false);
      this.report(); // only sends when the step or unit had to change for the new trace
    } else this.draw();
    loadPlotly(ui.plotly).then((Plotly) => this.whenNear(() => this.charts(Plotly))).catch((err) => {
      this.note.textContent = ui.labels.charts_failed + " (" + err.message + ")";
    });
  }

  // a heatmap's z: units x steps
  zOf(arr) {
    const n = this.n, T = this.T;
    return Array.from({ length: n }, (_, i) => {
      const row = new Array(T);
      for (let t = 0; t < T; t++) row[t] = arr[t * n + i];
      return row;
    });
  }

  // A new trace of the same text and rows (② live: a control moved): its numbers go into the figures already
  // drawn (one restyle of the heatmaps, the step's views redrawn), nothing built anew. False when the text or
  // the rows differ: then the caller builds a new Scrubber.
  retrace(p) {
    if (p.text !== this.p.text || p.units.join() !== this.units.join()) return false;
    const same = p.id === this.p.id; // the same trace with the server's new attribution: no figure changes
    this.p = p;
    Object.assign(this, scrubArrays(p));
    attReplace(this);
    if (same) {
      this.later(this.shownStep(), this.rowOf.get(this.unit), false);
      return true;
    }
    if (this.plots && this.onScreen(this.heatDiv, "z")) this.restyleZ();
    this.shown = -1;
    this.draw();
    this.done.dataset.trace = p.id;
    return true;
  }

  restyleZ() { this.Plotly.restyle(this.heatDiv, { z: [this.zOf(this.R), this.zOf(this.Z)] }, [0, 1]); }

  // values of row i at step t
  at(arr, t, i) { return arr[t * this.n + i]; }
  prev(t, i) { return t === 0 ? this.H0[i] : this.H[(t - 1) * this.n + i]; }
  column(arr, t) { return Array.from(arr.subarray(t * this.n, (t + 1) * this.n)); }

  // --- the page's pieces, built once per trace ---
  dom() {
    const L = this.ui.labels, root = this.root;
    root.textContent = "";
    const box = el("div", "gsc" + (this.ui.projector ? " gsc-proj" : ""), root);
    box.style.setProperty("--gsc-font", this.ui.font + "px");
    box.setAttribute("data-testid", "gruScrubber");
    this.box = box;

    this.controlsDom(box);
    this.tapeDom(box);

    const grid = el("div", "gsc-grid", box);
    // Markers and highlights are HTML boxes over the figures, placed from the figures' axes: moving them costs
    // nothing, where a Plotly relayout of a shape redraws the whole heatmap figure (100+ ms at 2 × 32 × 500 cells).
    const heatWrap = el("div", "gsc-chart gsc-wrap", grid);
    this.heatDiv = el("div", "gsc-heat", heatWrap);
    const heatOv = el("div", "gsc-overlay", heatWrap);
    this.marks = [0, 1].map(() => el("div", "gsc-mark", heatOv));
    this.selRows = [0, 1].map(() => el("div", "gsc-row gsc-row-sel", heatOv));
    this.hovRows = [0, 1].map(() => el("div", "gsc-row gsc-row-hov", heatOv));
    const right = el("div", "gsc-right", grid);
    const mixWrap = el("div", "gsc-chart gsc-wrap", right);
    this.mixDiv = el("div", "gsc-mix", mixWrap);
    const mixOv = el("div", "gsc-overlay", mixWrap);
    this.selBand = el("div", "gsc-band gsc-band-sel", mixOv);
    this.hovBand = el("div", "gsc-band gsc-band-hov", mixOv);
    this.topDiv = el("div", "gsc-chart", right);
    // the cell of the selected unit, and its equation beside it (a click on the cell brings the equation)
    const cellRow = el("div", "gsc-cellrow", box);
    this.cellDiv = el("div", "gsc-chart gsc-cell", cellRow);
    this.cellDiv.addEventListener("click", () => {
      this.eq.scrollIntoView({ block: "nearest" });
      this.eq.classList.remove("gsc-flash");
      void this.eq.offsetWidth; // restart the animation
      this.eq.classList.add("gsc-flash");
    });
    this.eq = el("div", "gsc-eq", cellRow);
    this.note = el("div", "gsc-note", box, this.ui.projector ? L.shortcuts_bar : L.hover_help);
    this.done = el("div", "gsc-done", box);  // data-step mirrors what is painted (tests and benchmarks read it)
    attStaleMark(this);
  }

  // --- what is shown ---
  shownStep() { return this.preview ?? this.step; }

  windowFor(t) {
    const w = this.window || WINDOW;
    const lo = Math.min(Math.max(t - Math.floor(w / 2), 0), Math.max(this.T - w, 0));
    return [lo - 0.5, Math.min(this.T, lo + w) - 0.5];
  }

  // Move to step t (and unit u); `report` false when the server asked for it (it knows already).
  select(t, u, report = true) {
    t = Math.min(Math.max(Math.round(Number(t)) || 0, 0), this.T - 1);
    if (u !== undefined && u !== null && this.rowOf.has(Number(u))) this.unit = Number(u);
    this.step = t;
    this.draw();
    if (report) { this.report(); this.writeUrl(); }
  }

  chooseUnit(u) {
    if (!Number.isInteger(u) || u < 0 || u >= this.p.hidden) { this.unitIn.value = this.unit; return; }
    if (this.rowOf.has(u)) { this.select(this.step, u); return; }
    // a unit that is not among the rows sent: the server adds its row (one new trace payload)
    this.note.textContent = this.ui.labels.loading_unit.replace("{u}", u);
    this.pendingUnit = u;
    this.flush({ step: this.step, unit: u });
  }

  setPreview(t) {
    if (this.playing) return;
    this.preview = t;
    this.draw();
  }

  setHover(row, t) {
    if (row === this.hoverRow && t === this.hoverStep) return;
    this.hoverRow = row ?? null;
    this.hoverStep = t ?? null;
    this.place();
    if (this.hovCell) this.hovCell.classList.remove("gsc-hov");
    this.hovCell = this.hoverStep !== null ? this.cells[this.hoverStep] : null;
    if (this.hovCell) this.hovCell.classList.add("gsc-hov");
  }

  jumpTo(ch) {
    const c = (ch || "").slice(0, 1).toLowerCase();
    if (!c) return;
    const text = this.p.text;
    let pos = text.indexOf(c, this.step + 1);
    if (pos < 0) pos = text.indexOf(c);
    if (pos >= 0) this.select(pos);
  }

  // Everything that follows the step, updated in place: no figure is drawn anew.
  draw() {
    const t = this.shownStep(), L = this.ui.labels, row = this.rowOf.get(this.unit);
    const ch = this.p.text[t];
    this.heading.textContent = L.at_step.replace("{t}", t).replace("{ch}", showChar(ch));
    this.slider.value = this.step;
    this.stepOut.textContent = `${t} / ${this.T - 1}`;
    if (document.activeElement !== this.unitIn) this.unitIn.value = this.unit;
    this.tapeTo(t);
    this.equation(t, row);
    const moved = t !== this.shown || row !== this.shownRow;
    if (this.plots && moved) this.plot(t, row);
    this.later(t, row, moved);
    this.shown = t;
    this.shownRow = row;
    this.done.dataset.step = t;
    this.done.dataset.unit = this.unit;
    this.done.dataset.charts = this.plots ? "1" : "0";
  }

  // The secondary views (the attribution bars and the cell diagram) follow once the frame with the step's
  // heading, tape, marker, charts and the equation's numbers has been painted (a task after the next animation frame),
  // for the latest step only: keys held down or Play never queue up work for steps already passed.
  later(t, row, moved) {
    this.pending = { t, row, moved: moved || (this.pending && this.pending.moved) };
    if (this.pendingFrame) return;
    this.pendingFrame = requestAnimationFrame(() => setTimeout(() => {
      const { t, row, moved } = this.pending;
      this.pendingFrame = 0;
      this.pending = null;
      attUpdate(this, t);
      if (this.plots && moved) cellUpdate(this, t, row);
    }, 0));
  }
}
