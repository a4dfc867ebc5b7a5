// Tab ②'s controls in the browser: the probe box, the presets, the R, Z and strength ranges, units and steps,
// and the forcing a setting means (the same rule as gru_viz.ui.actions.current_forcing). Methods of GvForce
// (force.js) and the functions they share with it.

const GV_PRESETS = { free: [null, null], plain_rnn: [1, 0], frozen_memory: [null, 1], amnesia: [0, null] };
const gvActive = (f) => !!(f.R || f.Z);

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

function gvPresetOrCustom(s) {
  if (s.preset === "custom") return { r: s.fr_on ? Number(s.fr_val) : null, z: s.fz_on ? Number(s.fz_val) : null };
  const [r, z] = GV_PRESETS[s.preset] || [null, null];
  return { r, z };
}

Object.assign(GvForce.prototype, {
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
    this.contBox = conts;
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
  },

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
  },

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
  },
});
