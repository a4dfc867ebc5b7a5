// The scrubber's tape: the heading, the probe's characters (the current one kept in the middle, a moving mouse
// previews a step, a click selects it) and the attribution bars under them. Methods of Scrubber.

Object.assign(Scrubber.prototype, {
  // the heading, the tape of characters (a mouse that moves over it previews a step), the attribution bars
  tapeDom(box) {
    const L = this.ui.labels;
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
  },

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
  },
});
