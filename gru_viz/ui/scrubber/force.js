// Tab ② in the browser: the probe, the forcing controls (presets, R and Z values, units, steps, strength) and
// what they change (perplexity free vs forced, the continuations with differences marked, the degradation
// curve), all computed by the model worker (model.js) while a control moves or a key is typed. The server hears
// only the settled setting (DEBOUNCE_MS after the last change), which it records (address bar, Share link,
// "Train it this way") without redrawing anything. Test hooks: data-testid gv-probe, gv-strength, gv-force-r,
// gv-force-z, gv-ppl-free, gv-ppl-forced (full precision in data-value), gv-cont-forced; window.gruVizTrace().

const GV_FORCE_VERSION = 1;
const GV_SETTLE_MS = 600;
const GV_CURVE_POINTS = 10; // strengths 0, 0.1, … 1
const GV_PRESETS = { free: [null, null], plain_rnn: [1, 0], frozen_memory: [null, 1], amnesia: [0, null] };

let gvClientShared = null; // one worker per page, whichever component mounts first
let gvCurrentJob = null;

// Read-only: a copy of the current trace (arrays per step), or null before one is computed or while a class
// question hides the forced results.
window.gruVizTrace = () => {
  const r = gvCurrentJob;
  if (!r) return null;
  const tr = r.trace || {};
  const per = (a, w) => (a ? Array.from({ length: r.steps }, (_, t) => Array.from(a.subarray(t * w, (t + 1) * w))) : []);
  return { version: GV_FORCE_VERSION, model: r.model, text: r.text, steps: r.steps, hidden: r.hidden,
    forcing: structuredClone(r.force), setting: structuredClone(r.tag), R: per(tr.R, r.hidden), Z: per(tr.Z, r.hidden),
    H_tilde: per(tr.H_tilde, r.hidden), H: per(tr.H, r.hidden), logp: per(tr.logp, r.vocab),
    ppl_free: r.ppl_free, ppl_forced: r.ppl_forced, cont_free: r.cont_free, cont_forced: r.cont_forced };
};

function gvUnits(text, hidden) {
  // "0-31, 100" -> sorted unit list (gru_viz.ui.actions.parse_units' rule); "" -> null (every unit)
  const units = new Set();
  for (const raw of String(text || "").split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new Error(`'${part}' is not a unit number or a range like 0-31`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (!(a <= b && b < hidden)) throw new Error(`'${part}' is outside 0-${hidden - 1}`);
    for (let u = a; u <= b; u++) units.add(u);
  }
  return units.size ? [...units].sort((x, y) => x - y) : null;
}

// The forcing of a setting, as model.js takes it; the same rule as gru_viz.ui.actions.current_forcing
function gvForcing(s, hidden) {
  const strength = Number(s.f_strength ?? 1);
  if (s.preset !== "custom") {
    const [r, z] = GV_PRESETS[s.preset] || [null, null];
    return { R: r === null ? null : { value: r, units: null, steps: null },
      Z: z === null ? null : { value: z, units: null, steps: null }, strength };
  }
  const units = gvUnits(s.f_units, hidden);
  const steps = s.f_steps_on && s.f_steps ? [s.f_steps[0], s.f_steps[1] + 1] : null; // inclusive -> half-open
  return { R: s.fr_on ? { value: Number(s.fr_val), units, steps } : null,
    Z: s.fz_on ? { value: Number(s.fz_val), units, steps } : null, strength };
}

const gvActive = (f) => !!(f.R || f.Z);

function gvDiff(parent, free, forced) {
  parent.replaceChildren();
  for (let i = 0; i < forced.length; i++) {
    const ch = forced[i];
    if (i < free.length && free[i] === ch) parent.appendChild(document.createTextNode(ch));
    else el("mark", "gfc-diff", parent, ch === " " ? "\u2423" : ch);
  }
}

class GvForce {
  constructor(root, data) {
    this.root = root;
    this.ui = data.ui;
    this.hidden = data.model ? data.model.hidden : 0;
    this.setting = { ...data.setting };
    this.lastSent = JSON.stringify(this.setting) + "|" + data.probe;
    this.serverKey = this.lastSent;
    this.wasLocked = this.locked;
    this.sentKeys = new Set([this.lastSent]); // echoes of what this page sent, in whatever order reruns end
    this.probe = data.probe;
    this.locked = !!data.locked;
    this.cont = data.cont;
    this.plotly = data.plotly || {};
    this.scrubData = data.scrub || null; // ② draws the scrubber's views of its own trace (null: the page's)
    this.attKey = gvAttKey(data.scrub);
    this.build();
    if (data.model) {
      if (!gvClientShared) gvClientShared = new GvModelClient();
      this.client = gvClientShared;
      this.client.load(data.model);
      this.client.on("job", (r) => this.showJob(r));
      this.client.on("curve", (r) => this.showCurve(r));
      this.client.onerror = (msg) => { this.note.textContent = msg; };
      this.compute();
    } else {
      this.note.textContent = data.ui.server_only || "";
    }
  }

  build() {
    const ui = this.ui, s = this.setting;
    const r = el("div", "gfc" + (ui.projector ? " gfc-proj" : ""), null); // the projector's type: 18 px and up
    this.root.replaceChildren(r);
    const pl = el("label", "gfc-field", r, ui.probe);
    this.probeBox = el("textarea", "gfc-probe", pl);
    Object.assign(this.probeBox, { value: this.probe, rows: 3, maxLength: ui.probe_max || 2000, spellcheck: false });
    this.probeBox.dataset.testid = "gv-probe";
    this.probeBox.addEventListener("input", () => { this.probe = this.probeBox.value; this.changed(); });

    const presets = el("div", "gfc-presets", r);
    presets.setAttribute("role", "radiogroup");
    this.presetBtns = {};
    for (const k of [...Object.keys(GV_PRESETS), "custom"]) {
      const b = el("button", "gsc-btn gfc-preset", presets, ui[`preset_${k}`] || k);
      b.type = "button";
      b.dataset.preset = k;
      b.addEventListener("click", () => { this.setting.preset = k; this.syncControls(); this.changed(); });
      this.presetBtns[k] = b;
    }
    const grid = el("div", "gfc-controls", r);
    const range = (label, key, testid, cls) => {
      const box = el("label", "gfc-field " + (cls || ""), grid);
      const head = el("span", "gfc-label", box, label + " ");
      const val = el("b", "gfc-val", head);
      const inp = el("input", null, box);
      Object.assign(inp, { type: "range", min: 0, max: 1, step: 0.05 });
      inp.dataset.testid = testid;
      inp.addEventListener("input", () => this.moved(key, Number(inp.value)));
      return { inp, val };
    };
    this.rCtl = range(ui.value_r, "fr_val", "gv-force-r");
    this.zCtl = range(ui.value_z, "fz_val", "gv-force-z");
    this.sCtl = range(ui.strength, "f_strength", "gv-strength", "gfc-strength");
    const custom = el("div", "gfc-custom", r);
    this.custom = custom;
    const check = (label, key) => {
      const l = el("label", "gfc-check", custom);
      const c = el("input", null, l);
      c.type = "checkbox";
      el("span", null, l, label);
      c.addEventListener("change", () => { this.setting[key] = c.checked; this.syncControls(); this.changed(); });
      return c;
    };
    this.frOn = check(ui.force_r, "fr_on");
    this.fzOn = check(ui.force_z, "fz_on");
    const ul = el("label", "gfc-field", custom, ui.force_units + " ");
    this.unitsBox = el("input", "gfc-units", ul);
    Object.assign(this.unitsBox, { placeholder: "0-31, 100", maxLength: 200 });
    this.unitsBox.addEventListener("input", () => { this.setting.f_units = this.unitsBox.value; this.changed(); });
    this.stepsOn = check(ui.force_steps, "f_steps_on");
    this.stepA = el("input", "gfc-num", custom);
    this.stepB = el("input", "gfc-num", custom);
    for (const [i, inp] of [this.stepA, this.stepB].entries()) {
      Object.assign(inp, { type: "number", min: 0, step: 1 });
      inp.addEventListener("input", () => {
        const v = [...(this.setting.f_steps || [0, 20])];
        v[i] = Math.max(0, Math.floor(Number(inp.value) || 0));
        this.setting.f_steps = [Math.min(v[0], v[1]), Math.max(v[0], v[1])];
        this.changed();
      });
    }

    this.note = el("div", "gfc-note", r);
    this.results = el("div", "gfc-results", r);
    const m = el("div", "gfc-metrics", this.results);
    const metric = (label, testid) => {
      const b = el("div", "gfc-metric", m);
      el("div", "gfc-mlabel", b, label);
      const v = el("div", "gfc-mval", b, "…");
      v.dataset.testid = testid;
      return v;
    };
    this.pplFree = metric(ui.ppl_free, "gv-ppl-free");
    this.pplForced = metric(ui.ppl_forced, "gv-ppl-forced");
    this.pplOn = el("div", "gfc-on", m);
    this.contFrom = el("div", "gfc-small", this.results);
    const conts = el("div", "gfc-conts", this.results);
    const cf = el("div", null, conts);
    el("b", null, cf, ui.cont_free);
    this.contFree = el("div", "gfc-cont", cf);
    const cg = el("div", null, conts);
    this.contForcedHead = el("b", null, cg, ui.cont_forced);
    this.contForced = el("div", "gfc-cont", cg);
    this.contForced.dataset.testid = "gv-cont-forced";
    el("div", "gfc-small", this.results, ui.diff_note);
    this.curveBox = el("div", "gfc-curve", this.results);
    this.scrubBox = el("div", "gfc-scrub", this.results);
    this.lockedNote = el("div", "gfc-locked", r, ui.locked || "");
    this.syncControls();
  }

  // controls drawn from this.setting (after a preset, a server-side change)
  syncControls() {
    const s = this.setting;
    for (const [k, b] of Object.entries(this.presetBtns)) b.classList.toggle("gsc-on", s.preset === k);
    const f = gvPresetOrCustom(s);
    this.rCtl.inp.value = f.r ?? s.fr_val;
    this.zCtl.inp.value = f.z ?? s.fz_val;
    this.rCtl.inp.classList.toggle("gv-gate-free", f.r === null); // a free gate's slider holds no value in use
    this.zCtl.inp.classList.toggle("gv-gate-free", f.z === null);
    this.rCtl.val.textContent = f.r === null ? this.ui.free_word : Number(this.rCtl.inp.value).toFixed(2);
    this.zCtl.val.textContent = f.z === null ? this.ui.free_word : Number(this.zCtl.inp.value).toFixed(2);
    this.sCtl.inp.value = s.f_strength;
    this.sCtl.val.textContent = Number(s.f_strength).toFixed(2);
    this.custom.style.display = s.preset === "custom" ? "" : "none";
    this.frOn.checked = !!s.fr_on;
    this.fzOn.checked = !!s.fz_on;
    this.unitsBox.value = s.f_units || "";
    this.stepsOn.checked = !!s.f_steps_on;
    const st = s.f_steps || [0, 20];
    this.stepA.value = st[0];
    this.stepB.value = st[1];
    this.stepA.disabled = this.stepB.disabled = !s.f_steps_on;
    this.results.style.display = this.locked ? "none" : "";
    this.lockedNote.style.display = this.locked ? "" : "none";
  }

  // a gate's range moved: that gate is now set (custom keeps the other gate as the preset had it)
  moved(key, v) {
    const s = this.setting;
    if (key === "f_strength") {
      s.f_strength = v;
    } else {
      if (s.preset !== "custom") {
        const f = gvPresetOrCustom(s);
        Object.assign(s, { preset: "custom", fr_on: f.r !== null, fz_on: f.z !== null, fr_val: f.r ?? s.fr_val,
          fz_val: f.z ?? s.fz_val, f_units: "", f_steps_on: false });
      }
      s[key] = v;
      s[key === "fr_val" ? "fr_on" : "fz_on"] = true;
    }
    this.syncControls();
    this.changed();
  }

  changed() {
    this.compute();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.settle(), GV_SETTLE_MS);
  }

  settle() {
    const key = JSON.stringify(this.setting) + "|" + this.probe;
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.sentKeys.add(key);
    if (this.sentKeys.size > 64) this.sentKeys.delete(this.sentKeys.values().next().value);
    (this.send || (() => {}))("setting", { version: GV_FORCE_VERSION, ...this.setting, probe: this.probe });
  }

  compute() {
    if (!this.client) return;
    let force;
    try {
      force = gvForcing(this.setting, this.hidden);
      this.note.textContent = "";
    } catch (err) {
      this.note.textContent = err.message;
      return;
    }
    this.force = force;
    if (this.locked) {
      // a class question is open: nothing forced is computed before the teacher reveals
      gvCurrentJob = null;
      return;
    }
    const maxChars = this.cont.max_chars;
    this.client.submit("job", { text: this.probe, force, maxChars, cont: { fromProbe: true, n: this.cont.n },
      tag: { ...this.setting } }); // the result says which setting it is of
    this.root.dataset.asked = String(this.client.seq); // painted >= asked: this setting's views are drawn
    if (gvActive(force)) {
      this.client.submit("curve", { text: this.probe, force, maxChars, points: GV_CURVE_POINTS });
      this.curveBox.dataset.asked = String(this.client.seq);
    } else {
      this.curve = null;
      this.curveBox.dataset.asked = "0";
    }
  }

  showJob(r) {
    if (this.locked) return;
    const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : "\u221e");
    for (const [node, x] of [[this.pplFree, r.ppl_free], [this.pplForced, r.ppl_forced]]) {
      node.textContent = r.steps >= 2 ? fmt(x) : "\u2014";
      node.dataset.value = String(x);
    }
    this.pplOn.textContent = (this.ui.ppl_on_probe || "").replace("{n}", String(r.steps));
    this.contFree.textContent = r.cont_free ?? "";
    this.contFrom.textContent = (this.ui.cont_from || "").replace("{prefix}", r.cont_prefix ?? "");
    gvDiff(this.contForced, r.cont_free ?? "", r.cont_forced ?? "");
    const tail = (r.cont_forced ?? "").slice((r.cont_prefix ?? "").length);
    if (/^ +$/.test(tail)) // a row of marked spaces reads as redacted words: say what it is
      el("span", "gfc-spaces", this.contForced, " " + (this.ui.only_spaces || "").replace("{n}", String(tail.length)));
    this.contForced.dataset.text = r.cont_forced ?? "";
    gvCurrentJob = r; // window.gruVizTrace() builds its arrays only when asked
    this.root.dataset.painted = String(r.seq);
    this.lastJob = r;
    this.drawCurve();
    gvScrubFollow(this, r);
  }

  showCurve(c) {
    this.curve = c;
    this.drawCurve();
  }

  drawCurve() {
    const c = this.curve, r = this.lastJob;
    if (!c || !r || !gvActive(this.force) || this.locked) { this.curveBox.style.display = "none"; return; }
    this.curveBox.style.display = "";
    const s = Number(this.setting.f_strength);
    const data = [
      { x: c.strengths, y: c.ppl, mode: "lines+markers", name: this.ui.curve_name, line: { color: "#0072B2" },
        hovertemplate: "%{x:.2f}: %{y:.2f}<extra></extra>" },
      { x: [s], y: [r.ppl_forced], mode: "markers", name: this.ui.curve_now,
        marker: { color: "#D55E00", size: 13, symbol: "diamond" }, hovertemplate: "%{x:.2f}: %{y:.2f}<extra></extra>" },
    ];
    const layout = { height: 260, margin: { l: 60, r: 10, t: 36, b: 44 }, title: { text: this.ui.curve_title,
      font: { size: this.ui.projector ? 18 : 14 } }, xaxis: { title: { text: this.ui.curve_x }, range: [-0.03, 1.03] },
      yaxis: { title: { text: this.ui.curve_y }, type: "log" }, showlegend: true,
      legend: { orientation: "h", y: -0.3 } };
    loadPlotly(this.plotly).then((P) => {
      if (this.curveDrawn && this.curveShown === c) {
        P.restyle(this.curveBox, { x: [[s]], y: [[r.ppl_forced]] }, [1]); // only the marker moved
        return;
      }
      this.curveShown = c;
      if (this.curveDrawn) P.react(this.curveBox, data, layout);
      else { P.newPlot(this.curveBox, data, layout, { displayModeBar: false, responsive: true }); this.curveDrawn = true; }
      this.curveBox.dataset.painted = String(c.seq);
    }).catch((err) => { this.note.textContent = String(err.message || err); });
  }

  // the server's values: applied only when they differ from what this page last sent (a link, a lesson)
  update(data) {
    this.locked = !!data.locked;
    const key = JSON.stringify(data.setting) + "|" + data.probe;
    if (!this.sentKeys.has(key) && key !== this.serverKey) {
      this.setting = { ...data.setting };
      this.probe = data.probe;
      this.probeBox.value = data.probe;
      this.lastSent = key;
      this.sentKeys.add(key);
      this.syncControls();
      this.compute();
    } else if (this.locked !== this.wasLocked) {
      this.syncControls();
      this.compute();
    }
    this.serverKey = key;
    this.wasLocked = this.locked;
    // the server's attribution for the setting it just recorded: into the scrubber, which says whether it is
    // of the setting drawn
    const attKey = gvAttKey(data.scrub);
    if (data.scrub && attKey !== this.attKey) {
      this.scrubData = data.scrub;
      if (!this.locked && this.lastJob) gvScrubFollow(this, this.lastJob);
    }
    this.attKey = attKey;
  }
}

function gvPresetOrCustom(s) {
  if (s.preset === "custom") return { r: s.fr_on ? Number(s.fr_val) : null, z: s.fz_on ? Number(s.fz_val) : null };
  const [r, z] = GV_PRESETS[s.preset] || [null, null];
  return { r, z };
}

function gvForceMount(component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector(":scope > .gfc-host-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "gfc-host-root";
    parentElement.appendChild(root);
  }
  const sig = (data.model ? data.model.id : "-") + "|" + JSON.stringify(data.ui) + "|" + JSON.stringify(data.cont);
  let F = root.__gfc;
  if (!F || F.sig !== sig) {
    F = new GvForce(root, data);
    F.sig = sig;
    root.__gfc = F;
  } else {
    F.update(data);
  }
  F.send = component.setStateValue || (() => {});
  return () => {};
}
