// Figures drawn only when on screen (②'s own scrubber, `lazy`): while a control moves, the heatmaps, the state
// chart, the next characters and the cell that are scrolled away are not redrawn for every setting; each
// remembers what it missed and catches up when it comes near the viewport. Methods of Scrubber (scrubber.js).

// Only what is on the screen counts: drawn as it scrolls in. (A margin to draw figures just below the fold
// beforehand made every control move redraw them: ② input to painted 1.5-2× slower at 1280×720. In the app it
// never took effect before 2026-12-03, as Streamlit's main area, which scrolls, clips the figures at the screen.)
const GSC_NEAR = "0px";

Object.assign(Scrubber.prototype, {
  // start watching the figures (after charts() drew them); without IntersectionObserver everything is drawn
  watch() {
    if (!this.lazy || typeof IntersectionObserver === "undefined") return;
    this.seen = new Map();
    this.io = new IntersectionObserver((entries) => {
      if (this.root.__gsc !== this) { this.io.disconnect(); return; }
      for (const e of entries) this.seen.set(e.target, e.isIntersecting);
      this.catchUp();
    }, { rootMargin: GSC_NEAR });
    for (const d of [this.heatDiv, this.mixDiv, this.topDiv, this.cellDiv]) this.io.observe(d);
  },

  // `draw` now, or (lazy, the scrubber scrolled away) once it comes near the viewport: a typed text's new
  // figures are built when they can be seen, not for every character
  whenNear(draw) {
    if (!this.lazy || typeof IntersectionObserver === "undefined") { draw(); return; }
    this.done.dataset.missed = "charts";
    const io = new IntersectionObserver((entries) => {
      if (this.root.__gsc !== this) { io.disconnect(); return; }
      if (!entries.some((e) => e.isIntersecting)) return;
      io.disconnect();
      this.done.dataset.missed = "";
      draw();
    }, { rootMargin: GSC_NEAR });
    io.observe(this.box);
  },

  // true when `div` is to be drawn now; otherwise `what` is remembered for when it is (unknown counts as seen)
  onScreen(div, what) {
    if (!this.seen || this.seen.get(div) !== false) return true;
    this.missed.add(what);
    this.done.dataset.missed = [...this.missed].join(" ");
    return false;
  },

  // what the figures that came on screen missed, for the step shown now
  catchUp() {
    if (!this.plots || !this.missed.size) return;
    const t = this.shownStep(), row = this.rowOf.get(this.unit), was = new Set(this.missed);
    this.missed.clear();
    if (was.has("z") && this.onScreen(this.heatDiv, "z")) this.restyleZ();
    if (was.has("window") || was.has("mix") || was.has("top")) this.plot(t, row);
    if (was.has("cell")) cellUpdate(this, t, row);
    this.done.dataset.missed = [...this.missed].join(" ");
  },
});
