// Which characters mattered (gru_viz/explain/attribution.py): per step t, a bar under every character t' ≤ t on a log
// scale and the tape's colouring, for the trace's model and (when it is forced) the free model beside it.

// A bar spans this many decades below its row's largest value. Four made nearly every bar full height on the
// trained model (read as "every character mattered equally"); with two, a bar at half height is a tenth of the
// largest, and the scale is said beside the bars, not only in a tooltip.
const ATT_DECADES = 2;

function attDecode(b64, [lo, hi]) {
  const q = decode(b64, 16), out = new Float64Array(q.length), step = (hi - lo) / 65535;
  for (let i = 0; i < q.length; i++) out[i] = q[i] ? 10 ** (lo + q[i] * step) : 0;
  return out;
}

function attRows(S) {
  const a = S.p.attribution;
  if (!a) return [];
  const rows = [{ key: "shown", label: S.p.forced ? S.ui.labels.att_forced : S.ui.labels.att_shown,
                  values: attDecode(a.shown, a.log_range), cap: 10 ** a.log_range[1] }];
  if (a.free) rows.push({ key: "free", label: S.ui.labels.att_free, values: attDecode(a.free, a.log_range),
                          cap: 10 ** a.log_range[1] });
  return rows;
}

const fmtNorm = (x, cap) => (x >= cap ? "\u2265 " : "") + (x === 0 ? "0" : x >= 0.01 && x < 1000 ? x.toPrecision(3) : x.toExponential(1));

// Bars as HTML beside the tape's characters (they move with it), one strip per matrix.
function attDom(S, tapeInner, labelsBox) {
  S.att = attRows(S);
  const a = S.p.attribution;
  S.attKey = a ? a.shown + "|" + (a.free || "") : "";
  for (const row of S.att) {
    const strip = el("div", "gsc-bars gsc-bars-" + row.key, tapeInner);
    // Each bar holds its character, invisible: it is exactly as wide as the character above it in any script
    // (a full-width CJK character too), so the bars never drift from their characters along the tape.
    row.bars = Array.from(S.p.text, (ch, t) => {
      const bar = el("span", "gsc-bar", strip, ch === " " ? "\u00a0" : showChar(ch));
      bar.setAttribute("aria-hidden", "true");
      bar.dataset.t = t;
      return el("i", "", bar);
    });
    row.labelEl = el("div", "gsc-att-label gsc-att-label-" + row.key, labelsBox);
    el("span", "gsc-att-name", row.labelEl, row.label);
    row.maxEl = el("span", "gsc-att-max", row.labelEl);
  }
  if (S.att.length) {
    const scale = S.ui.labels.att_scale.replace("{ratio}", String(10 ** ATT_DECADES));
    el("div", "gsc-att-scale", labelsBox, scale);
    labelsBox.title = scale; // the projector hides the note (its two lines pushed the heatmaps off the first screen)
  }
}

function attUpdate(S, t) {
  if (!S.att.length) return;
  const L = S.ui.labels, start = (t * (t + 1)) / 2;
  for (const [k, row] of S.att.entries()) {
    let m = 0;
    for (let j = 0; j <= t; j++) m = Math.max(m, row.values[start + j]);
    const hs = new Array(S.T).fill(0);
    for (let j = 0; j <= t; j++) {
      const x = row.values[start + j];
      hs[j] = x > 0 && m > 0 ? Math.max(0, 1 + Math.log10(x / m) / ATT_DECADES) : 0;
    }
    for (let j = 0; j < S.T; j++) row.bars[j].style.height = (100 * hs[j]).toFixed(1) + "%";
    row.maxEl.textContent = L.att_largest.replace("{v}", fmtNorm(m, row.cap));
    row.heights = hs;
    if (k === 0) { // the tape is coloured by the trace's own model
      for (let j = 0; j < S.T; j++) {
        S.cells[j].style.backgroundColor = j < t && hs[j] > 0 ? `rgba(0, 114, 178, ${(0.06 + 0.4 * hs[j]).toFixed(3)})` : "";
      }
    }
  }
  const top = S.topIdx[t * S.p.top_k], next = showChar(S.p.tokens[top] ?? "?");
  S.attTitle.textContent = L.att_title.replace("{t}", t).replace("{next}", next);
  S.done.dataset.att = S.att.map((r) => Array.from(r.values.subarray(start, start + t + 1), (x) => x.toPrecision(4)).join(",")).join("|");
}

// ② live: the bars belong to the setting and text the server computed them for. While the page's own setting
// differs they are greyed and said to be stale (or left out, when the text differs), until the server's new
// ones arrive for the settled setting.
function attStaleMark(S) {
  const stale = !!S.p.attribution_stale;
  S.box.classList.toggle("gsc-stale", stale);
  S.attStale.style.display = stale ? "" : "none";
  S.done.dataset.attStale = stale ? "1" : "0";
}

// The attribution of a new trace of the same text (Scrubber.retrace): bars rebuilt only when the matrices changed.
function attReplace(S) {
  const a = S.p.attribution, key = a ? a.shown + "|" + (a.free || "") : "";
  if (key !== S.attKey) {
    S.attKey = key;
    for (const node of S.strip.querySelectorAll(":scope > .gsc-bars")) node.remove();
    S.attLabels.replaceChildren();
    attDom(S, S.strip, S.attLabels);
  }
  attStaleMark(S);
}
