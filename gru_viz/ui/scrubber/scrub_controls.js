// The scrubber's controls: buttons, step slider, jump and unit boxes, Play and the keyboard, the address bar
// (it carries the step shown at once) and telling the server (debounced: only the settled step and unit).
// Methods of Scrubber.

const DEBOUNCE_MS = 600; // the server hears a step only once it has stayed this long
const PLAY_MS = 80; // 12.5 steps per second
const URL_MS = 150; // the address bar is rewritten at most this often (Chrome refuses floods of replaceState)

Object.assign(Scrubber.prototype, {
  // the buttons, the step slider, the jump box and the unit box
  controlsDom(box) {
    const L = this.ui.labels;
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
  },

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
  },

  moves() { return { ArrowRight: this.step + 1, ArrowLeft: this.step - 1, Home: 0, End: this.T - 1 }; },

  keyMove(key) {
    if (this.playing) this.togglePlay();
    this.keyChosen = true; // until the mouse moves, the keys choose the step shown
    this.preview = null;
    this.select(this.moves()[key]);
  },

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
  },

  attach() {
    if (this.attached) return;
    document.addEventListener("keydown", this.onKey);
    window.addEventListener("resize", this.onResize);
    // capture, on the window: before the page's own handlers turn the key into a rerun. Not on pointerdown: the
    // scrubber lives in a fragment, and its step sent in the same batch as a click elsewhere (a tab) made
    // Streamlit rerun only the fragment, so the clicked tab stayed blank (tests/e2e/test_notebook_upload.py)
    window.addEventListener("keydown", this.onOutside, true);
    this.attached = true;
  },

  detach() {
    document.removeEventListener("keydown", this.onKey);
    window.removeEventListener("resize", this.onResize);
    window.removeEventListener("keydown", this.onOutside, true);
    this.attached = false;
    if (this.playing) { clearTimeout(this.playing); this.playing = null; }
  },

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
  },

  report() {
    clearTimeout(this.timer);
    if (this.playing) return;
    this.reportDue = true;
    this.timer = setTimeout(() => this.flush({ step: this.step, unit: this.unit }), DEBOUNCE_MS);
  },

  // A press outside the scrubber (a preset button, a tab, a shortcut key such as "2") may rerun the page at once:
  // the step still waiting for its DEBOUNCE_MS goes first, so that rerun sees the step shown, not an older one.
  outside(e) {
    if (!this.reportDue || this.playing || !this.root.isConnected) return;
    const inside = e.target instanceof Node && this.root.contains(e.target);
    if (inside && (e.type === "pointerdown" || /^(INPUT|TEXTAREA)$/.test(e.target.tagName))) return;
    if (e.type === "keydown" && (e.key in this.moves() || e.key === " " || /^(Shift|Control|Alt|Meta)$/.test(e.key))) return;
    this.flush({ step: this.step, unit: this.unit });
  },

  flush(view) {
    clearTimeout(this.timer);
    this.reportDue = false;
    const key = view.step + ":" + view.unit;
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.send("view", view);
  },
});
