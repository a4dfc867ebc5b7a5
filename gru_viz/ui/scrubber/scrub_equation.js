// The scrubber's equation: d2l's H_t = Z_t·H_{t−1} + (1 − Z_t)·H̃_t written out with the numbers of the selected
// unit at the shown step. A method of Scrubber.

Object.assign(Scrubber.prototype, {
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
  },
});
