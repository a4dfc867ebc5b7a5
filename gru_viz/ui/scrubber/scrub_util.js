// The scrubber's small helpers (numbers from the payload, characters as drawn, plotly.js loaded once, icons, DOM
// nodes), loaded first: every other part of the scrubber calls these.

// The version of the data the page's Python writes for this code (gru_viz.views.scrub_payload.VERSION: the scrubber's
// payload, ②'s component data and the setting it sends back). A page whose code and data disagree (a cached
// script after an upgrade) says so instead of drawing numbers it may misread.
const GV_CONTRACT = 1;

// The readable refusal of data of another version, in the page's language when the data says it.
function gvContractRefused(root, version, labels) {
  if (version === GV_CONTRACT) return false;
  const text = (labels && labels.client_version) ||
    "This page's code (version {js}) does not match the server's data (version {py}): reload the page. / " +
    "本页代码（版本 {js}）与服务器数据（版本 {py}）不符：请刷新页面。";
  const note = document.createElement("div");
  note.className = "gsc-version";
  note.setAttribute("role", "alert");
  note.textContent = text.replaceAll("{js}", String(GV_CONTRACT)).replaceAll("{py}", String(version));
  root.replaceChildren(note);
  root.__gsc = root.__gfc = null;
  return true;
}

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

// views/figures.log_ticks in JavaScript, for the charts drawn here: Plotly's own log ticks label 2 and 5 at three
// quarters of the font (13.5 px under a projector's 18), and a narrow range gets none; the same values as Python.
const LOG_MANTISSAS = [[1], [1, 2, 5], [1, 1.5, 2, 3, 5, 7], [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9]];
const g6 = (x) => Number(x.toPrecision(6));
function logTicks(lo, hi, minTicks = 3) {
  lo = Math.max(lo, 1e-9); hi = Math.max(hi, lo * (1 + 1e-9));
  for (const ms of LOG_MANTISSAS) {
    const ticks = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.floor(Math.log10(hi)); k++)
      for (const m of ms) { const t = m * 10 ** k; if (lo <= t && t <= hi) ticks.push(g6(t)); }
    if (ticks.length >= minTicks) return ticks;
  }
  let step = 10 ** Math.floor(Math.log10((hi - lo) / minTicks));
  for (const f of [5, 2, 1])
    if (Math.floor(hi / (step * f)) - Math.ceil(lo / (step * f)) + 1 >= minTicks) { step *= f; break; }
  const out = [];
  for (let i = Math.ceil(lo / step); i <= Math.floor(hi / step); i++) out.push(g6(i * step));
  return out;
}

// The ticks for a log axis over these values (the finite ones); none given (Plotly's own) when there are none.
function logTicksOf(values) {
  const v = values.filter(Number.isFinite);
  return v.length ? logTicks(Math.min(...v), Math.max(...v)) : undefined;
}
