// The time-step scrubber of gru_viz, in the browser: one recorded trace arrives once (gru_viz/scrub_payload.py),
// is drawn once with plotly.js, and every step, hover and click after that is answered here.
//
// Streamlit (custom components v2) calls the default export again on every rerun; it rebuilds only when the
// trace or the labels change, so the rerun that a settled step causes redraws nothing. The same file runs in
// the exported HTML (gru_viz/export_html.py), where `setStateValue` does nothing.

const DEBOUNCE_MS = 600; // the server hears a step only once it has stayed this long
const PLAY_MS = 80; // 12.5 steps per second
const URL_MS = 150; // the address bar is rewritten at most this often (Chrome refuses floods of replaceState)
const WINDOW = 80; // at most this many steps visible at once along the heatmaps' x axis (fewer on narrow screens)
const MINUS = "\u2212";
// Button icons as SVG paths (Material Design shapes): no icon font, no emoji that a system may lack.
const ICONS = {
  first: ["M6 6h2v12H6z", "M18 6v12l-8.5-6z"],
  prev: ["M16 6v12l-8.5-6z"],
  next: ["M8 6v12l8.5-6z"],
  last: ["M16 6h2v12h-2z", "M6 6v12l8.5-6z"],
  play: ["M7 5v14l11-7z"],
  pause: ["M6 5h4v14H6z", "M14 5h4v14h-4z"],
};

export default function scrubber(component) {
  const { data, parentElement } = component;
  const host = parentElement;
  let root = host.querySelector(":scope > .gsc-host-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "gsc-host-root";
    host.appendChild(root);
  }
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

// --- numbers ------------------------------------------------------------------------------------

function decode(b64, bits) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bits > 8 ? new Uint16Array(bytes.buffer) : bytes;
}

function dequantize(b64, [lo, hi], bits) {
  const q = decode(b64, bits);
  const scale = (hi - lo) / (2 ** bits - 1);
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = lo + q[i] * scale;
  return out;
}

// The trace's arrays (step-major, one row per unit shown): decoded from the server's 16-bit payload, or as
// they are where the page computed them itself (② live: `arrays` holds R, Z, Ht, H, H0, topP, topIdx).
function scrubArrays(p) {
  if (p.arrays) return p.arrays;
  const r = p.ranges;
  return { R: dequantize(p.R, r.gate, p.bits), Z: dequantize(p.Z, r.gate, p.bits),
    Ht: dequantize(p.H_tilde, r.state, p.bits), H: dequantize(p.H, r.state, p.bits),
    H0: dequantize(p.H0, r.state, p.bits), topP: dequantize(p.top_p, r.prob, p.bits), topIdx: decode(p.top_idx, p.bits) };
}

const signed = (x) => (x < 0 ? MINUS : "+") + Math.abs(x).toFixed(3);
// How characters that would not show are drawn (↵ ⇥ ␣…): the payload's "visible", from gru_viz.data.visible_char.
let VISIBLE = { " ": "\u2423" };
const showChar = (ch) => VISIBLE[ch] ?? ch;
// Plotly reads tick and trace text as pseudo-HTML: a token such as "<unk>" would vanish
const plotlyText = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function loadPlotly(source) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__gruVizPlotly) {
    // fetched as text and run from a blob: works whatever Content-Type the server gives .js files
    window.__gruVizPlotly = (source.src ? Promise.resolve(source.src) : fetch(source.url).then((r) => {
      if (!r.ok) throw new Error(`plotly.js: HTTP ${r.status}`);
      return r.text();
    })).then((text) => new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
      el.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error("plotly.js did not load")));
      el.onerror = () => reject(new Error("plotly.js did not run"));
      document.head.appendChild(el);
    }));
    window.__gruVizPlotly.catch(() => { window.__gruVizPlotly = null; });
  }
  return window.__gruVizPlotly;
}

// A colour of a Plotly colour scale ([[position, "#rrggbb"], …]) at v in [0, 1], for bars coloured by value
// (plotly.js warns about numeric bar colours in a legend, so the bars get CSS colours).
function scaleColors(scale) {
  const stops = scale.map(([pos, hex]) => [pos, [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))]);
  return (v) => {
    let k = 1;
    while (k < stops.length - 1 && stops[k][0] < v) k++;
    const [p0, c0] = stops[k - 1], [p1, c1] = stops[k];
    const f = Math.min(Math.max((v - p0) / (p1 - p0 || 1), 0), 1);
    return `rgb(${c0.map((c, i) => Math.round(c + f * (c1[i] - c))).join(",")})`;
  };
}

function svgIcon(name) {
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "gsc-icon");
  svg.setAttribute("aria-hidden", "true");
  for (const d of ICONS[name]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  return svg;
}

// Place an overlay box (pixels in its figure); a null left hides it.
function box(elm, left, top, width, height) {
  if (left == null) { elm.style.display = "none"; return; }
  Object.assign(elm.style, { display: "block", left: `${left}px`, top: `${top}px`, width: `${width}px`,
                             height: `${height}px` });
}

function el(tag, cls, parent, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
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
    this.shown = -1;
    this.onKey = (e) => this.key(e);
    this.onOutside = (e) => this.outside(e);
    this.onResize = () => { this.tapeX = null; };
    this.dom();
    if (keep) {
      this.select(keep.step, keep.unit, false);
      this.report(); // only sends when the step or unit had to change for the new trace
    } else this.draw();
    loadPlotly(ui.plotly).then((Plotly) => this.charts(Plotly)).catch((err) => {
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
    this.p = p;
    Object.assign(this, scrubArrays(p));
    attReplace(this);
    if (this.plots) this.Plotly.restyle(this.heatDiv, { z: [this.zOf(this.R), this.zOf(this.Z)] }, [0, 1]);
    this.shown = -1;
    this.draw();
    this.done.dataset.trace = p.id;
    return true;
  }

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

    const controls = el("div", "gsc-controls", box);
    const buttons = el("div", "gsc-buttons", controls);
    const button = (icon, label, key, action) => {
      const b = el("button", "gsc-btn", buttons);
      b.type = "button";
      b.setAttribute("aria-label", label);
      b.title = `${label} (${key})`;
      b.appendChild(svgIcon(icon));
      if (!this.ui.projector) el("span", "gsc-label", b, label);
      b.addEventListener("click", () => { action(); b.blur(); });
      return b;
    };
    button("first", L.first, "Home", () => this.select(0));
    button("prev", L.prev, "\u2190", () => this.select(this.step - 1));
    button("next", L.next, "\u2192", () => this.select(this.step + 1));
    button("last", L.last, "End", () => this.select(this.T - 1));
    this.playBtn = button("play", L.play, "Space", () => this.togglePlay());
    this.playBtn.classList.add("gsc-play");
    this.playLabel = this.playBtn.querySelector(".gsc-label");

    const sliderBox = el("label", "gsc-slider", controls);
    el("span", "gsc-field", sliderBox, L.step);
    this.slider = el("input", "", sliderBox);
    Object.assign(this.slider, { type: "range", min: 0, max: Math.max(this.T - 1, 0), step: 1, value: 0 });
    this.slider.setAttribute("aria-label", L.step);
    this.slider.addEventListener("input", () => this.select(Number(this.slider.value)));
    this.stepOut = el("span", "gsc-stepnum", sliderBox);

    const jumpBox = el("label", "gsc-small", controls);
    el("span", "gsc-field", jumpBox, L.jump);
    this.jump = el("input", "", jumpBox);
    Object.assign(this.jump, { type: "text", maxLength: 1, placeholder: L.jump_placeholder, title: L.jump_help });
    this.jump.addEventListener("input", () => this.jumpTo(this.jump.value));
    this.jump.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.jumpTo(this.jump.value);
      // one letter fits the box: the arrows, Home and End step the scrubber, as everywhere else on the page
      else if (e.key in this.moves() && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        this.keyMove(e.key);
      }
    });

    const unitBox = el("label", "gsc-small", controls);
    el("span", "gsc-field", unitBox, L.unit_numbers);
    this.unitIn = el("input", "", unitBox);
    Object.assign(this.unitIn, { type: "number", min: 0, max: this.p.hidden - 1, step: 1 });
    this.unitIn.addEventListener("change", () => this.chooseUnit(Number(this.unitIn.value)));

    const head = el("div", "gsc-head", box);
    const left = el("div", "gsc-head-left", head);
    this.heading = el("h4", "gsc-heading", left);
    const attLabels = el("div", "gsc-att-labels", left);
    this.attLabels = attLabels;
    this.tapeBox = el("div", "gsc-tape", head);
    const strip = el("div", "gsc-tape-inner", this.tapeBox);
    this.tape = el("div", "gsc-chars", strip);
    this.cells = Array.from(this.p.text, (ch, t) => {
      const s = el("span", "gsc-ch", this.tape, ch === " " ? "\u00a0" : showChar(ch));
      s.dataset.t = t;
      return s;
    });
    this.strip = strip;
    attDom(this, strip, attLabels);
    this.attTitle = el("div", "gsc-att-title", head);
    this.attTitle.title = L.att_help.replace("{decades}", ATT_DECADES);
    this.attStale = el("div", "gsc-att-stale-note", head, L.att_stale || "");
    this.attStale.dataset.testid = "gv-att-stale";
    const posOf = (e) => { const c = e.target.closest && e.target.closest("[data-t]"); return c ? c.dataset.t : undefined; };
    // The tape slides under a resting mouse as keys move the step: only a mouse that really moves previews
    // (a key-chosen step is not replaced by whatever character slid under the pointer).
    strip.addEventListener("mousemove", (e) => {
      if (e.movementX || e.movementY) this.keyChosen = false;
      const t = posOf(e);
      if (t !== undefined && !this.keyChosen && Number(t) !== this.preview) this.setPreview(Number(t));
    });
    this.tapeBox.addEventListener("mouseleave", () => this.setPreview(null));
    strip.addEventListener("click", (e) => {
      const t = posOf(e);
      if (t !== undefined) { this.preview = null; this.select(Number(t)); }
    });

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

  // --- charts: newPlot once per trace ---
  charts(Plotly) {
    if (!this.root.isConnected || this.root.__gsc !== this) return;
    this.Plotly = Plotly;
    const ui = this.ui, L = ui.labels, A = ui.axes, font = ui.font, T = this.T, n = this.n;
    const base = { font: { size: font, color: "#2a3f5f" }, paper_bgcolor: "white", plot_bgcolor: "white",
                   hoverlabel: { font: { size: font } }, margin: { l: 60, r: 20, t: 40, b: 40 } };
    // no toolbar: its icons covered the legends and titles (a tablet shows it on a tap, and it stays)
    const config = { displaylogo: false, responsive: true, displayModeBar: false };
    const rows = this.units.map(String);

    // R_t and Z_t: units x steps, every step sent once
    const zOf = (arr) => this.zOf(arr);
    const steps = Array.from({ length: T }, (_, t) => t);
    const heat = (arr, name, xa, ya, first) => ({
      type: "heatmap", name, z: zOf(arr), x: steps, y: rows, zmin: 0, zmax: 1, colorscale: ui.gate_colors,
      showscale: first, xaxis: xa, yaxis: ya, xgap: 0, ygap: 0,
      colorbar: first ? { title: { text: A.gate }, len: 0.9, tickvals: [0, 0.5, 1] } : undefined,
      hovertemplate: `${A.step} %{x}<br>${A.unit} %{y}<br>${name} = %{z:.3f}<extra></extra>`,
    });
    // as many steps as leave each character legible under its column
    const heatW = Math.max(200, this.heatDiv.clientWidth - 160);
    this.window = Math.max(16, Math.min(WINDOW, Math.floor(heatW / (0.8 * font))));
    const range = this.windowFor(this.shownStep());
    const ticks = { tickvals: steps, ticktext: Array.from(this.p.text, (c) => plotlyText(showChar(c))), tickangle: 0 };
    const gap = 0.08, half = (1 - gap) / 2;
    const heatLayout = { ...base, height: ui.heights.heat, showlegend: false,
      margin: { ...base.margin, l: Math.round(3.2 * font + 20) }, // three-digit unit numbers and the axis title
      xaxis: { anchor: "y", domain: [0, 1], matches: "x2", showticklabels: false, range, showgrid: false },
      yaxis: { anchor: "x", domain: [1 - half, 1], type: "category", range: [n - 0.5, -0.5], autorange: false,
               showgrid: false, title: { text: A.unit } },
      xaxis2: { anchor: "y2", domain: [0, 1], range, showgrid: false, tickfont: { size: font - 1 }, ...ticks },
      yaxis2: { anchor: "x2", domain: [0, half], type: "category", range: [n - 0.5, -0.5], autorange: false,
                showgrid: false, title: { text: A.unit } },
      annotations: [[L.r_title, 1], [L.z_title, half]].map(([text, y]) => ({ text, x: 0.5, xanchor: "center",
        xref: "paper", y, yanchor: "bottom", yref: "paper", showarrow: false, font: { size: font } })) };

    // the state chart: per unit a segment from H~_t to H_{t-1} with H_t on it, and Z_t (the weight) below
    const x = Array.from({ length: n }, (_, i) => i);
    const mixW = Math.max(160, this.mixDiv.clientWidth - 90);
    const every = Math.max(1, Math.ceil(n / Math.max(4, Math.floor(mixW / (2.6 * font)))));
    const [nPrev, nCand, nState, nZ] = L.mix_names.split("|");
    const marker = (name, color, symbol) => ({ type: "scatter", mode: "markers", x, y: new Array(n).fill(0), name,
      marker: { color, symbol, size: 7 }, customdata: this.units, xaxis: "x", yaxis: "y",
      hovertemplate: `${A.unit} %{customdata}<br>${name} = %{y:.3f}<extra></extra>` });
    const mixData = [
      { type: "scatter", mode: "lines", x: x.flatMap((i) => [i, i, null]), y: new Array(3 * n).fill(null),
        line: { color: "#c8c8c8", width: 1.5 }, hoverinfo: "skip", showlegend: false, xaxis: "x", yaxis: "y" },
      marker(nPrev, ui.colors.prev, "circle-open"), marker(nCand, ui.colors.cand, "diamond"),
      marker(nState, ui.colors.hidden, "circle"),
      { type: "bar", x, y: new Array(n).fill(0), name: nZ, customdata: this.units, xaxis: "x2", yaxis: "y2",
        marker: { color: new Array(n).fill(this.gateColor(0)) },
        hovertemplate: `${A.unit} %{customdata}<br>Z = %{y:.3f}<extra></extra>` },
    ];
    const mixLayout = { ...base, height: ui.heights.mix, bargap: 0.1, margin: { ...base.margin, b: 36 + 1.5 * font },
      legend: { orientation: "h", yanchor: "bottom", y: 1.02, x: 0, font: { size: this.ui.projector ? font : Math.max(12, font - 3) } },
      xaxis: { anchor: "y", domain: [0, 1], matches: "x2", showticklabels: false, range: [-0.5, n - 0.5] },
      yaxis: { anchor: "x", domain: [0.3 * 0.94 + 0.06, 1], range: [-1.05, 1.05], title: { text: A.value },
               zeroline: true },
      xaxis2: { anchor: "y2", domain: [0, 1], title: { text: A.hidden_unit }, range: [-0.5, n - 0.5], tickangle: 0,
                tickvals: x.filter((i) => i % every === 0), ticktext: this.units.filter((_, i) => i % every === 0) },
      yaxis2: { anchor: "x2", domain: [0, 0.3 * 0.94], range: [0, 1], title: { text: "Z<sub>t</sub>" },
                tickvals: [0, 0.5, 1] } };

    // the next character: the TOP_K most probable, most likely on top
    const k = this.p.top_k, ks = Array.from({ length: k }, (_, i) => i);
    const topData = [{ type: "bar", orientation: "h", x: new Array(k).fill(0), y: ks.map((i) => "\u2009".repeat(i + 1)),
      text: new Array(k).fill(""),
      textposition: "auto", marker: { color: ui.colors.hidden }, hovertemplate: "%{x:.3f}<extra></extra>" }];
    const topLayout = { ...base, height: ui.heights.top, title: { text: L.next_char },
      margin: { l: 60, r: 20, t: 40 + (font - 13), b: 40 },
      yaxis: { type: "category", range: [k - 0.5, -0.5], autorange: false, tickfont: { size: font + 2 } },
      xaxis: { range: [0, 1], title: { text: A.probability } } };

    Promise.all([Plotly.newPlot(this.heatDiv, [heat(this.R, "R", "x", "y", true), heat(this.Z, "Z", "x2", "y2", false)],
                                heatLayout, config),
                 Plotly.newPlot(this.mixDiv, mixData, mixLayout, config),
                 Plotly.newPlot(this.topDiv, topData, topLayout, { ...config, displayModeBar: false }),
                 Plotly.newPlot(this.cellDiv, [], ui.cell.layout, { displayModeBar: false, responsive: true })])
      .then(() => {
        if (this.root.__gsc !== this) return;
        this.plots = { heat: this.heatDiv, mix: this.mixDiv, top: this.topDiv, cell: this.cellDiv };
        window.__gruVizBuilds = (window.__gruVizBuilds || 0) + 1; // whole-figure draws (tests count them)
        this.done.dataset.builds = window.__gruVizBuilds;
        this.events();
        this.shown = -1;
        this.draw();
      });
  }

  events() {
    this.heatDiv.on("plotly_afterplot", () => this.place());
    this.mixDiv.on("plotly_afterplot", () => this.place());
    const heatRow = (pt) => this.rowOf.get(Number(pt.y));
    this.heatDiv.on("plotly_hover", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt) this.setHover(heatRow(pt), Number(pt.x));
    });
    this.heatDiv.on("plotly_unhover", () => this.setHover(null, null));
    this.heatDiv.on("plotly_click", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt) this.select(Number(pt.x), this.units[heatRow(pt)]);
    });
    this.mixDiv.on("plotly_hover", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt && pt.customdata !== undefined) this.setHover(this.rowOf.get(Number(pt.customdata)), null);
    });
    this.mixDiv.on("plotly_unhover", () => this.setHover(null, null));
    this.mixDiv.on("plotly_click", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt && pt.customdata !== undefined) this.select(this.step, Number(pt.customdata));
    });
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

  plot(t, row) {
    const P = this.Plotly, n = this.n;
    // the window moves (a relayout) only once the step leaves it; the marker is an overlay
    const xr = this.heatDiv._fullLayout.xaxis.range;
    if (t < xr[0] + 1 || t > xr[1] - 1) P.relayout(this.heatDiv, { "xaxis.range": this.windowFor(t) });
    this.place();
    // the state chart: new y values and bar colours, one restyle
    const hp = new Array(n), ht = this.column(this.Ht, t), h = this.column(this.H, t), z = this.column(this.Z, t);
    const seg = new Array(3 * n);
    for (let i = 0; i < n; i++) {
      hp[i] = this.prev(t, i);
      seg[3 * i] = ht[i];
      seg[3 * i + 1] = hp[i];
      seg[3 * i + 2] = null;
    }
    const C = this.ui.colors;
    P.restyle(this.mixDiv, { y: [seg, hp, ht, h, z], "marker.color": ["#c8c8c8", C.prev, C.cand, C.hidden,
                                                                       z.map(this.gateColor)] }, [0, 1, 2, 3, 4]);
    // the next character
    const k = this.p.top_k, ps = [], chars = [], text = [];
    for (let j = 0; j < k; j++) {
      const p = this.topP[t * k + j];
      ps.push(p);
      chars.push(plotlyText(showChar(this.p.tokens[this.topIdx[t * k + j]] ?? "?")));
      text.push((100 * p).toFixed(1) + "%");
    }
    P.restyle(this.topDiv, { x: [ps], y: [chars], text: [text] });  // one redraw: the characters are the categories
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

  // Overlays placed from the figures' axes (after every step, hover, zoom, pan or resize).
  place() {
    if (!this.plots) return;
    const t = this.shownStep(), row = this.rowOf.get(this.unit), fl = this.heatDiv._fullLayout;
    [["xaxis", "yaxis"], ["xaxis2", "yaxis2"]].forEach(([xn, yn], k) => {
      const xa = fl[xn], ya = fl[yn], x = xa._offset + xa.l2p(t);
      const inside = x >= xa._offset - 1 && x <= xa._offset + xa._length + 1;
      box(this.marks[k], inside ? x - 1.5 : null, ya._offset, 3, ya._length);
      this.marks[k].dataset.x = t;
      for (const [elm, r] of [[this.selRows[k], row], [this.hovRows[k], this.hoverRow]]) {
        const y0 = r == null ? 0 : ya._offset + ya.l2p(r - 0.5), y1 = r == null ? 0 : ya._offset + ya.l2p(r + 0.5);
        box(elm, r == null ? null : xa._offset, Math.min(y0, y1), xa._length, Math.abs(y1 - y0));
        elm.dataset.row = r ?? "";
      }
    });
    const mf = this.mixDiv._fullLayout;
    if (!mf) return;
    const xa = mf.xaxis, size = mf._size;
    for (const [elm, r] of [[this.selBand, row], [this.hovBand, this.hoverRow]]) {
      const x0 = r == null ? 0 : xa._offset + xa.l2p(r - 0.5), x1 = r == null ? 0 : xa._offset + xa.l2p(r + 0.5);
      box(elm, r == null ? null : x0, size.t, x1 - x0, size.h);
      elm.dataset.row = r ?? "";
    }
  }

  tapeTo(t) {
    const old = this.curCell;
    if (old) old.classList.remove("gsc-cur");
    const lo = Math.min(this.lastT ?? 0, t), hi = Math.max(this.lastT ?? this.T - 1, t);
    for (let i = lo; i <= hi; i++) this.cells[i].classList.toggle("gsc-past", i < t);
    this.lastT = t;
    this.curCell = this.cells[t];
    this.curCell.classList.add("gsc-cur");
    // keep the current character in the middle of the strip; positions are measured once (and after a resize),
    // since reading them at every step would make the browser lay out the whole page again
    if (!this.tapeX || !this.tapeX.length) {
      this.tapeX = this.cells.map((c) => c.offsetLeft + c.offsetWidth / 2);
      this.tapeMid = this.tapeBox.clientWidth / 2;
    }
    const mid = this.tapeMid, x = this.tapeX[t];
    this.strip.style.transform = `translateX(${Math.min(0, mid - x)}px)`;
  }

  equation(t, row) {
    const L = this.ui.labels, eq = this.eq;
    if (row === undefined) { eq.textContent = ""; return; }
    const z = this.at(this.Z, t, row), r = this.at(this.R, t, row), hp = this.prev(t, row);
    const ht = this.at(this.Ht, t, row), h = this.at(this.H, t, row);
    if (!this.eqParts) {
      // fixed markup (no user text); the numbers go in with textContent
      eq.innerHTML = `<div class="gsc-eq-title"></div>
        <div><i>Z</i><sub>t</sub> = <b data-k="z"></b>, &nbsp;<i>R</i><sub>t</sub> = <b data-k="r"></b></div>
        <div><i>H</i><sub>t\u22121</sub> = <b data-k="hp"></b>, &nbsp;<i>H\u0303</i><sub>t</sub> = <b data-k="ht"></b></div>
        <div><i>H</i><sub>t</sub> = <i>Z</i><sub>t</sub>\u00b7<i>H</i><sub>t\u22121</sub> + (1 \u2212 <i>Z</i><sub>t</sub>)\u00b7<i>H\u0303</i><sub>t</sub></div>
        <div class="gsc-eq-num">= <span data-k="z2"></span>\u00b7(<span data-k="hp2"></span>) + <span data-k="omz"></span>\u00b7(<span data-k="ht2"></span>) = <b data-k="h"></b></div>`;
      this.eqParts = Object.fromEntries([...eq.querySelectorAll("[data-k]")].map((e) => [e.dataset.k, e]));
      this.eqTitle = eq.querySelector(".gsc-eq-title");
    }
    const E = this.eqParts;
    this.eqTitle.textContent = L.numbers_at.replace("{u}", this.unit).replace("{t}", t);
    E.z.textContent = z.toFixed(3);
    E.r.textContent = r.toFixed(3);
    E.hp.textContent = signed(hp);
    E.ht.textContent = signed(ht);
    E.z2.textContent = z.toFixed(3);
    E.hp2.textContent = signed(hp);
    E.omz.textContent = (1 - z).toFixed(3);
    E.ht2.textContent = signed(ht);
    E.h.textContent = signed(h);
  }

  // --- playing and the keyboard ---
  togglePlay() {
    const L = this.ui.labels;
    if (this.playing) {
      clearTimeout(this.playing);
      this.playing = null;
      this.playBtn.classList.remove("gsc-on");
      this.playBtn.replaceChild(svgIcon("play"), this.playBtn.firstChild);
      this.playBtn.setAttribute("aria-label", L.play);
      if (this.playLabel) this.playLabel.textContent = L.play;
      this.report();
      this.writeUrl();
      return;
    }
    if (this.step >= this.T - 1) this.select(0, undefined, false);
    this.playBtn.classList.add("gsc-on");
    this.playBtn.replaceChild(svgIcon("pause"), this.playBtn.firstChild);
    this.playBtn.setAttribute("aria-label", L.pause_play);
    if (this.playLabel) this.playLabel.textContent = L.pause_play;
    const tick = () => {
      const t0 = performance.now();
      this.select(this.step + 1, undefined, false);
      if (this.step >= this.T - 1) { this.togglePlay(); return; }
      this.playing = setTimeout(tick, Math.max(0, PLAY_MS - (performance.now() - t0)));
    };
    this.playing = setTimeout(tick, PLAY_MS);
  }

  moves() { return { ArrowRight: this.step + 1, ArrowLeft: this.step - 1, Home: 0, End: this.T - 1 }; }

  keyMove(key) {
    if (this.playing) this.togglePlay();
    this.keyChosen = true; // until the mouse moves, the keys choose the step shown
    this.preview = null;
    this.select(this.moves()[key]);
  }

  key(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || !this.root.isConnected) return;
    if (!this.box.offsetParent) return; // hidden (another tab is open)
    const tag = (e.target && e.target.tagName) || "";
    const ours = e.target === this.slider; // the step slider: the keys do what they do everywhere else
    if (!ours && (/^(INPUT|TEXTAREA|SELECT)$/.test(tag) || (e.target && e.target.isContentEditable))) return;
    if (e.key in this.moves()) {
      e.preventDefault();
      this.keyMove(e.key);
    } else if (e.key === " " && tag !== "BUTTON") {
      e.preventDefault();
      this.togglePlay();
    }
  }

  attach() {
    if (this.attached) return;
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("resize", this.onResize);
    // capture, on the window: before the page's own handlers turn the press into a rerun
    window.addEventListener("pointerdown", this.onOutside, true);
    window.addEventListener("keydown", this.onOutside, true);
    this.attached = true;
  }

  detach() {
    document.removeEventListener("keydown", this.onKey);
    window.removeEventListener("resize", this.onResize);
    window.removeEventListener("pointerdown", this.onOutside, true);
    window.removeEventListener("keydown", this.onOutside, true);
    this.attached = false;
    if (this.playing) { clearTimeout(this.playing); this.playing = null; }
  }

  // --- the address bar: it carries the step shown at once, not only after the server's rerun ---
  // (the server writes the same values when the step settles; replaceState is throttled by browsers, so a
  // held key writes at most every URL_MS, the last position always)
  writeUrl() {
    if (!this.live) return;
    clearTimeout(this.urlTimer);
    const wait = this.urlAt + URL_MS - performance.now();
    if (wait > 0) { this.urlTimer = setTimeout(() => this.writeUrl(), wait); return; }
    this.urlAt = performance.now();
    try {
      const url = new URL(window.location.href);
      if (this.step > 0) url.searchParams.set("step", String(this.step));
      else url.searchParams.delete("step");
      url.searchParams.set("unit", String(this.unit));
      if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url.href);
    } catch (err) { /* an address that cannot be rewritten (sandboxed frame): the server's rerun writes it */ }
  }

  // --- telling the server (debounced): only the settled step and unit ---
  report() {
    clearTimeout(this.timer);
    if (this.playing) return;
    this.reportDue = true;
    this.timer = setTimeout(() => this.flush({ step: this.step, unit: this.unit }), DEBOUNCE_MS);
  }

  // A press outside the scrubber (a preset button, a tab, a shortcut key such as "2") may rerun the page at once:
  // the step still waiting for its DEBOUNCE_MS goes first, so that rerun sees the step shown, not an older one.
  outside(e) {
    if (!this.reportDue || this.playing || !this.root.isConnected) return;
    const inside = e.target instanceof Node && this.root.contains(e.target);
    if (inside && (e.type === "pointerdown" || /^(INPUT|TEXTAREA)$/.test(e.target.tagName))) return;
    if (e.type === "keydown" && (e.key in this.moves() || e.key === " " || /^(Shift|Control|Alt|Meta)$/.test(e.key))) return;
    this.flush({ step: this.step, unit: this.unit });
  }

  flush(view) {
    clearTimeout(this.timer);
    this.reportDue = false;
    const key = view.step + ":" + view.unit;
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.send("view", view);
  }
}
