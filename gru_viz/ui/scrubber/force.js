// Tab ② in the browser: the probe, the forcing controls (presets, R and Z values, units, steps, strength) and
// what they change (perplexity free vs forced, the continuations with differences marked, the degradation
// curve), all computed by the model worker (model_*.js) while a control moves or a key is typed. The server hears
// only the settled setting (DEBOUNCE_MS after the last change), which it records (address bar, Share link,
// "Train it this way") without redrawing anything. Test hooks: data-testid gv-probe, gv-strength, gv-force-r,
// gv-force-z, gv-ppl-free, gv-ppl-forced (full precision in data-value), gv-cont-forced; window.gruVizTrace().
// Its controls are in force_controls.js, the scrubber's views of its trace in live_scrub.js.

const GV_SETTLE_MS = 600;
const GV_CURVE_POINTS = 10; // strengths 0, 0.1, … 1

let gvClientShared = null; // one worker per page, whichever component mounts first
let gvCurrentJob = null;
let gvCurrentCont = null; // the continuations, which come after the job's numbers (the same `pair`)

// Read-only: a copy of the current trace (arrays per step), or null before one is computed or while a class
// question hides the forced results.
window.gruVizTrace = () => {
  const r = gvCurrentJob;
  if (!r) return null;
  const tr = r.trace || {};
  const per = (a, w) => (a ? Array.from({ length: r.steps }, (_, t) => Array.from(a.subarray(t * w, (t + 1) * w))) : []);
  return { version: GV_CONTRACT, model: r.model, text: r.text, steps: r.steps, hidden: r.hidden,
    forcing: structuredClone(r.force), setting: structuredClone(r.tag), R: per(tr.R, r.hidden), Z: per(tr.Z, r.hidden),
    H_tilde: per(tr.H_tilde, r.hidden), H: per(tr.H, r.hidden), logp: per(tr.logp, r.vocab),
    ppl_free: r.ppl_free, ppl_forced: r.ppl_forced, ...gvContOf(r) };
};

// the continuations of job r (null until they have come)
function gvContOf(r) {
  const c = gvCurrentCont && gvCurrentCont.pair === r.pair ? gvCurrentCont : null;
  return { cont_prefix: c ? c.cont_prefix : null, cont_free: c ? c.cont_free : null, cont_forced: c ? c.cont_forced : null };
}

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
    this.modelId = data.model ? data.model.id : null;
    if (this.scrubData) {
      // the rows and attribution of the setting the server recorded arrive apart (live_force.ATT_JS)
      this.onSetting = () => this.settingArrived();
      window.addEventListener("gv-attribution", this.onSetting);
      this.settingArrived(false);
    }
    this.build();
    if (this.scrubData) this.watchBars();
    if (data.model) {
      if (!gvClientShared) gvClientShared = new GvModelClient();
      this.client = gvClientShared;
      this.client.load(data.model);
      this.client.on("job", (r) => this.showJob(r));
      this.client.on("cont", (c) => this.showCont(c));
      this.client.on("curve", (r) => this.showCurve(r));
      this.client.onerror = (msg) => { this.note.textContent = msg; };
      this.compute();
    } else {
      this.note.textContent = data.ui.server_only || "";
    }
  }

  changed() {
    this.lastChange = performance.now();
    this.settleWaits = 0;
    this.compute();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.settle(), GV_SETTLE_MS);
  }

  // The settled setting to the server, saying whether the attribution bars are in view (`att`): the server
  // computes them (a gradient through the whole probe) only then. Sent again, with att, when the bars come into
  // view for a setting sent without.
  settle() {
    // not while the workers still compute this setting (its curve): the rerun's redraw and the server's work
    // would share the cores with them (the curve took 2-3× longer); 5 s at most
    if (this.client && this.client.busy && ++this.settleWaits < 50) {
      this.timer = setTimeout(() => this.settle(), 100);
      return;
    }
    const key = JSON.stringify(this.setting) + "|" + this.probe, att = !!this.barsInView;
    if (key === this.lastSent && (!att || this.attAsked === key)) return;
    this.lastSent = key;
    if (att) this.attAsked = key;
    this.sentKeys.add(key);
    if (this.sentKeys.size > 64) this.sentKeys.delete(this.sentKeys.values().next().value);
    (this.send || (() => {}))("setting", { version: GV_CONTRACT, ...this.setting, probe: this.probe, att });
  }

  // ②'s scrubber (its tape and attribution bars at the top) near the viewport or not; coming into view with
  // the controls at rest asks for the bars of the setting shown (while a control moves, its settle will)
  watchBars() {
    if (typeof IntersectionObserver === "undefined") { this.barsInView = true; return; }
    this.barsIo = new IntersectionObserver((entries) => {
      if (this.dead) { this.barsIo.disconnect(); return; }
      this.barsInView = entries[entries.length - 1].isIntersecting;
      const resting = !this.lastChange || performance.now() - this.lastChange >= GV_SETTLE_MS;
      if (this.barsInView && resting && !this.locked) this.settle();
    });
    this.barsIo.observe(this.scrubBox);
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
      gvCurrentJob = gvCurrentCont = null;
      this.client.forget();
      return;
    }
    const maxChars = this.cont.max_chars, pair = (this.pair = (this.pair || 0) + 1);
    // the numbers and the trace first; the continuations apart (they need not hold the numbers back)
    this.client.submit("job", { text: this.probe, force, maxChars, pair, tag: { ...this.setting } });
    this.root.dataset.asked = String(this.client.seq); // painted >= asked: this setting's views are drawn
    this.client.submit("cont", { text: this.probe, force, maxChars, pair, cont: { fromProbe: true, n: this.cont.n } });
    this.contForced.dataset.asked = String(this.client.seq);
    this.contBox.classList.add("gfc-pending"); // the continuations shown are of an earlier setting until then
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
    gvCurrentJob = r; // window.gruVizTrace() builds its arrays only when asked
    this.root.dataset.painted = String(r.seq);
    this.lastJob = r;
    this.follow();
  }

  // the continuations of the latest setting asked (those of one a newer setting overtook are not shown)
  showCont(c) {
    if (this.locked || c.pair !== this.pair) return;
    this.contFree.textContent = c.cont_free ?? "";
    this.contFrom.textContent = (this.ui.cont_from || "").replace("{prefix}", c.cont_prefix ?? "");
    gvDiff(this.contForced, c.cont_free ?? "", c.cont_forced ?? "");
    const tail = (c.cont_forced ?? "").slice((c.cont_prefix ?? "").length);
    if (/^ +$/.test(tail)) // a row of marked spaces reads as redacted words: say what it is
      el("span", "gfc-spaces", this.contForced, " " + (this.ui.only_spaces || "").replace("{n}", String(tail.length)));
    this.contForced.dataset.text = c.cont_forced ?? "";
    this.contForced.dataset.painted = String(c.seq);
    this.contBox.classList.remove("gfc-pending");
    gvCurrentCont = c;
  }

  // The figures (the curve's marker, the scrubber's views) after the frame that paints the numbers and texts,
  // for the latest result only: a drag's results that a newer one overtook before that frame are never drawn.
  follow() {
    if (this.followFrame) return;
    this.followFrame = requestAnimationFrame(() => setTimeout(() => {
      this.followFrame = 0;
      if (this.dead || this.locked || !this.lastJob) return;
      this.drawCurve();
      gvScrubFollow(this, this.lastJob);
    }, 0));
  }

  // the server's rows and attribution for the setting it just recorded: into the scrubber, which says whether
  // they are of the setting drawn
  settingArrived(redraw = true) {
    if (this.dead) return;
    const a = window.__gvAttribution;
    if (!a || a.model !== this.modelId) return;
    const key = gvAttKey(a) + "|" + (a.rows || []).join(",") + (a.held ? "|held" : "");
    if (key === this.attKey) return;
    this.attKey = key;
    // held: the server computed none (the bars were out of view); the ones drawn stay, stale if they are not
    // of this setting, until the page asks
    const attribution = a.held ? this.scrubData.attribution : a.attribution;
    this.scrubData = { ...this.scrubData, rows: a.rows, attribution };
    if (redraw && !this.locked && this.lastJob) this.follow();
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
    const big = this.ui.projector, ticks = logTicksOf([...c.ppl, r.ppl_forced]); // a projector's floor: 18 px
    const layout = { height: big ? 320 : 260, font: { size: big ? 18 : 12 },
      margin: { l: big ? 80 : 60, r: 10, t: big ? 44 : 36, b: big ? 64 : 44 },
      title: { text: this.ui.curve_title, font: { size: big ? 20 : 14 } },
      // "allow": no measuring of every tick label at each redraw to hide those past the edge
      xaxis: { title: { text: this.ui.curve_x }, range: [-0.03, 1.03], ticklabeloverflow: "allow" },
      yaxis: { title: { text: this.ui.curve_y }, type: "log", ticklabeloverflow: "allow", tickvals: ticks,
               ticktext: ticks && ticks.map(String) }, showlegend: true,
      legend: { orientation: "h", y: big ? -0.4 : -0.3 } };
    loadPlotly(this.plotly).then((P) => {
      const same = this.curveShown && String(this.curveShown.ppl) === String(c.ppl); // the gates did not change
      if (this.curveDrawn && (this.curveShown === c || same)) {
        this.curveShown = c;
        this.curveBox.dataset.painted = String(c.seq);
        // only the marker moved; while a newer curve is computed it waits for that curve (one redraw, not two)
        const newer = Number(this.curveBox.dataset.asked) > c.seq;
        if (!newer) P.restyle(this.curveBox, { x: [[s]], y: [[r.ppl_forced]] }, [1]);
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
  }
}

function gvForceMount(component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector(":scope > .gfc-host-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "gfc-host-root";
    parentElement.appendChild(root);
  }
  if (gvContractRefused(root, data.version, data.ui)) return () => {};
  const sig = (data.model ? data.model.id : "-") + "|" + JSON.stringify(data.ui) + "|" + JSON.stringify(data.cont);
  let F = root.__gfc;
  if (!F || F.sig !== sig) {
    if (F) { // replaced (another language, model or view): it listens no more
      F.dead = true;
      window.removeEventListener("gv-attribution", F.onSetting);
      if (F.barsIo) F.barsIo.disconnect();
    }
    F = new GvForce(root, data);
    F.sig = sig;
    root.__gfc = F;
  } else {
    F.update(data);
  }
  F.send = component.setStateValue || (() => {});
  return () => {};
}
