// The GRU cell of the scrubber (gru_viz/views/cell_figure.py draws it; this writes one unit's values into it per step
// with one Plotly.relayout of a small layout-only figure). Loaded before scrubber.js, which calls these.

function gateForced(forcing, gate, t, unit) {
  const f = forcing && forcing[gate];
  if (!f) return null;
  if (f.units && !f.units.includes(unit)) return null;
  if (f.steps && !(f.steps[0] <= t && t < f.steps[1])) return null;
  return f.value;
}

// The numbers on the wires for unit `unit` (payload row `row`) at step t, as the equation shows them.
function cellValues(S, t, row) {
  const z = S.at(S.Z, t, row);
  return { hp: S.prev(t, row), r: S.at(S.R, t, row), z, ht: S.at(S.Ht, t, row), omz: 1 - z, h: S.at(S.H, t, row) };
}

function cellUpdate(S, t, row) {
  const cell = S.ui.cell, L = S.ui.labels, P = S.Plotly;
  if (!P || !S.cellDiv.layout || row === undefined || !S.onScreen(S.cellDiv, "cell")) return;
  const v = cellValues(S, t, row), sl = cell.slots, sh = cell.shapes, [g0, g1] = cell.gauge;
  const ch = S.p.text[t];
  const text = {
    title: L.cell_title.replace("{u}", S.unit).replace("{t}", t),
    x: `X<sub>t</sub> = \u201c${plotlyText(showChar(ch))}\u201d`,
    hp: `H<sub>t\u22121</sub> = ${signed(v.hp)}`,
    r: `R<sub>t</sub> = ${v.r.toFixed(3)}`,
    z: `Z<sub>t</sub> = ${v.z.toFixed(3)}`,
    ht: `H\u0303<sub>t</sub> = ${signed(v.ht)}`,
    omz: `1 \u2212 Z<sub>t</sub> = ${v.omz.toFixed(3)}`,
    h: `H<sub>t</sub> = ${signed(v.h)}`,
  };
  const upd = {};
  for (const [k, s] of Object.entries(text)) upd[`annotations[${sl[k]}].text`] = s;
  for (const [gate, key, name] of [["R", "r", "cell_reset"], ["Z", "z", "cell_update"]]) {
    const forced = gateForced(S.p.forcing, gate, t, S.unit), val = v[key];
    upd[`shapes[${sh[key + "_level"]}].y1`] = g0 + (g1 - g0) * Math.min(Math.max(val, 0), 1);
    upd[`shapes[${sh[key + "_level"]}].fillcolor`] = S.gateColor(val);
    upd[`shapes[${sh[key + "_frame"]}].line.color`] = forced === null ? "#444444" : S.ui.colors.forced;
    upd[`shapes[${sh[key + "_frame"]}].line.width`] = forced === null ? 2 : 5;
    upd[`shapes[${sh[key + "_frame"]}].line.dash`] = forced === null ? "solid" : "dash";
    // below full strength the gate is (1 − s)·free + s·forced: the value it is pulled to, and how hard
    const s = S.p.forcing && S.p.forcing.strength !== undefined ? Number(S.p.forcing.strength) : 1;
    const how = s < 1 && L.cell_strength ? " (" + L.cell_strength.replace("{s}", s.toFixed(2)) + ")" : "";
    upd[`annotations[${sl[key + "_box"]}].text`] = L[name] + (forced === null ? "" :
      `<br><b><span style="color:${S.ui.colors.forced}">${L.cell_forced} = ${forced}${how}</span></b>`);
  }
  P.relayout(S.cellDiv, upd);
  S.cellDiv.dataset.step = t;
  S.cellDiv.dataset.unit = S.unit;
}
