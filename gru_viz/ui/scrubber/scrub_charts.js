// The scrubber's figures (plotly.js): the R and Z heatmaps, the state chart and the next characters, drawn once
// per trace (newPlot), then restyled per step; the markers and highlights are HTML boxes placed from their axes.
// Loaded after scrubber.js (these are methods of Scrubber).

Object.assign(Scrubber.prototype, {
  charts(Plotly) {
    if (!this.root.isConnected || this.root.__gsc !== this) return;
    this.Plotly = Plotly;
    const ui = this.ui, L = ui.labels, A = ui.axes, font = ui.font, T = this.T, n = this.n;
    const base = { font: { size: font, color: "#2a3f5f" }, paper_bgcolor: "white", plot_bgcolor: "white",
                   hoverlabel: { font: { size: font } }, margin: { l: 60, r: 20, t: 40, b: 40 } };
    // no toolbar: its icons covered the legends and titles (a tablet shows it on a tap, and it stays)
    const config = { displaylogo: false, responsive: true, displayModeBar: false };
    const rows = this.units.map(String);

    // R_t and Z_t: units x steps, every step sent once
    const zOf = (arr) => this.zOf(arr);
    const steps = Array.from({ length: T }, (_, t) => t);
    const heat = (arr, name, xa, ya, first) => ({
      type: "heatmap", name, z: zOf(arr), x: steps, y: rows, zmin: 0, zmax: 1, colorscale: ui.gate_colors,
      showscale: first, xaxis: xa, yaxis: ya, xgap: 0, ygap: 0,
      colorbar: first ? { title: { text: A.gate }, len: 0.9, tickvals: [0, 0.5, 1] } : undefined,
      hovertemplate: `${A.step} %{x}<br>${A.unit} %{y}<br>${name} = %{z:.3f}<extra></extra>`,
    });
    // as many steps as leave each character legible under its column
    const heatW = Math.max(200, this.heatDiv.clientWidth - 160);
    this.window = Math.max(16, Math.min(WINDOW, Math.floor(heatW / (0.8 * font))));
    const range = this.windowFor(this.shownStep());
    const ticks = { tickvals: steps, ticktext: Array.from(this.p.text, (c) => plotlyText(showChar(c))), tickangle: 0 };
    const gap = 0.08, half = (1 - gap) / 2;
    const heatLayout = { ...base, height: ui.heights.heat, showlegend: false,
      margin: { ...base.margin, l: Math.round(3.2 * font + 20) }, // three-digit unit numbers and the axis title
      // no tick marks either under R: on a projector they crossed Z's title just below
      xaxis: { anchor: "y", domain: [0, 1], matches: "x2", showticklabels: false, ticks: "", range, showgrid: false },
      yaxis: { anchor: "x", domain: [1 - half, 1], type: "category", range: [n - 0.5, -0.5], autorange: false,
               showgrid: false, title: { text: A.unit } },
      // "allow": Plotly's default for these axes measures every tick label at every redraw to hide those
      // past the figure's edge (about 3× the cost of a restyle of z); labels here end inside it
      xaxis2: { anchor: "y2", domain: [0, 1], range, showgrid: false, tickfont: { size: font - 1 }, ...ticks,
                ticklabeloverflow: "allow" },
      yaxis2: { anchor: "x2", domain: [0, half], type: "category", range: [n - 0.5, -0.5], autorange: false,
                showgrid: false, title: { text: A.unit } },
      annotations: [[L.r_title, 1], [L.z_title, half]].map(([text, y]) => ({ text, x: 0.5, xanchor: "center",
        xref: "paper", y, yanchor: "bottom", yref: "paper", showarrow: false, font: { size: font } })) };

    // the state chart: per unit a segment from H~_t to H_{t-1} with H_t on it, and Z_t (the weight) below
    const x = Array.from({ length: n }, (_, i) => i);
    const mixW = Math.max(160, this.mixDiv.clientWidth - 90);
    const every = Math.max(1, Math.ceil(n / Math.max(4, Math.floor(mixW / (2.6 * font)))));
    const [nPrev, nCand, nState, nZ] = L.mix_names.split("|");
    const marker = (name, color, symbol) => ({ type: "scatter", mode: "markers", x, y: new Array(n).fill(0), name,
      marker: { color, symbol, size: 7 }, customdata: this.units, xaxis: "x", yaxis: "y",
      hovertemplate: `${A.unit} %{customdata}<br>${name} = %{y:.3f}<extra></extra>` });
    const mixData = [
      { type: "scatter", mode: "lines", x: x.flatMap((i) => [i, i, null]), y: new Array(3 * n).fill(null),
        line: { color: "#c8c8c8", width: 1.5 }, hoverinfo: "skip", showlegend: false, xaxis: "x", yaxis: "y" },
      marker(nPrev, ui.colors.prev, "circle-open"), marker(nCand, ui.colors.cand, "diamond"),
      marker(nState, ui.colors.hidden, "circle"),
      { type: "bar", x, y: new Array(n).fill(0), name: nZ, customdata: this.units, xaxis: "x2", yaxis: "y2",
        marker: { color: new Array(n).fill(this.gateColor(0)) },
        hovertemplate: `${A.unit} %{customdata}<br>Z = %{y:.3f}<extra></extra>` },
    ];
    const mixLayout = { ...base, height: ui.heights.mix, bargap: 0.1, margin: { ...base.margin, b: 36 + 1.5 * font },
      legend: { orientation: "h", yanchor: "bottom", y: 1.02, x: 0, font: { size: this.ui.projector ? font : Math.max(12, font - 3) } },
      xaxis: { anchor: "y", domain: [0, 1], matches: "x2", showticklabels: false, range: [-0.5, n - 0.5] },
      yaxis: { anchor: "x", domain: [0.3 * 0.94 + 0.06, 1], range: [-1.05, 1.05], title: { text: A.value },
               zeroline: true },
      xaxis2: { anchor: "y2", domain: [0, 1], title: { text: A.hidden_unit }, range: [-0.5, n - 0.5], tickangle: 0,
                ticklabeloverflow: "allow",
                tickvals: x.filter((i) => i % every === 0), ticktext: this.units.filter((_, i) => i % every === 0) },
      yaxis2: { anchor: "x2", domain: [0, 0.3 * 0.94], range: [0, 1], title: { text: "Z<sub>t</sub>" },
                tickvals: [0, 0.5, 1] } };

    // the next character: the TOP_K most probable, most likely on top
    const k = this.p.top_k, ks = Array.from({ length: k }, (_, i) => i);
    const topData = [{ type: "bar", orientation: "h", x: new Array(k).fill(0), y: ks.map((i) => "\u2009".repeat(i + 1)),
      text: new Array(k).fill(""),
      textposition: "auto", marker: { color: ui.colors.hidden }, hovertemplate: "%{x:.3f}<extra></extra>" }];
    const topLayout = { ...base, height: ui.heights.top, title: { text: L.next_char },
      margin: { l: 60, r: 20, t: 40 + (font - 13), b: 40 },
      yaxis: { type: "category", range: [k - 0.5, -0.5], autorange: false, tickfont: { size: font + 2 } },
      xaxis: { range: [0, 1], title: { text: A.probability } } };

    Promise.all([Plotly.newPlot(this.heatDiv, [heat(this.R, "R", "x", "y", true), heat(this.Z, "Z", "x2", "y2", false)],
                                heatLayout, config),
                 Plotly.newPlot(this.mixDiv, mixData, mixLayout, config),
                 Plotly.newPlot(this.topDiv, topData, topLayout, { ...config, displayModeBar: false }),
                 Plotly.newPlot(this.cellDiv, [], ui.cell.layout, { displayModeBar: false, responsive: true })])
      .then(() => {
        if (this.root.__gsc !== this) return;
        this.plots = { heat: this.heatDiv, mix: this.mixDiv, top: this.topDiv, cell: this.cellDiv };
        window.__gruVizBuilds = (window.__gruVizBuilds || 0) + 1; // whole-figure draws (tests count them)
        this.done.dataset.builds = window.__gruVizBuilds;
        this.events();
        this.watch();
        this.shown = -1;
        this.draw();
      });
  },

  events() {
    this.heatDiv.on("plotly_afterplot", () => this.place());
    this.mixDiv.on("plotly_afterplot", () => this.place());
    const heatRow = (pt) => this.rowOf.get(Number(pt.y));
    this.heatDiv.on("plotly_hover", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt) this.setHover(heatRow(pt), Number(pt.x));
    });
    this.heatDiv.on("plotly_unhover", () => this.setHover(null, null));
    this.heatDiv.on("plotly_click", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt) this.select(Number(pt.x), this.units[heatRow(pt)]);
    });
    this.mixDiv.on("plotly_hover", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt && pt.customdata !== undefined) this.setHover(this.rowOf.get(Number(pt.customdata)), null);
    });
    this.mixDiv.on("plotly_unhover", () => this.setHover(null, null));
    this.mixDiv.on("plotly_click", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt && pt.customdata !== undefined) this.select(this.step, Number(pt.customdata));
    });
  },

  plot(t, row) {
    const P = this.Plotly;
    // the window moves (a relayout) only once the step leaves it; the marker is an overlay
    // (at either end of the trace the window cannot move: a relayout there would only redraw it)
    const xr = this.heatDiv._fullLayout.xaxis.range, w = this.windowFor(t);
    if ((t < xr[0] + 1 || t > xr[1] - 1) && (w[0] !== xr[0] || w[1] !== xr[1]) && this.onScreen(this.heatDiv, "window")) {
      P.relayout(this.heatDiv, { "xaxis.range": w });
    }
    this.place();
    if (this.onScreen(this.mixDiv, "mix")) this.plotMix(t);
    if (this.onScreen(this.topDiv, "top")) this.plotTop(t);
  },

  plotMix(t) {
    const P = this.Plotly, n = this.n;
    // the state chart: new y values and bar colours, one restyle
    const hp = new Array(n), ht = this.column(this.Ht, t), h = this.column(this.H, t), z = this.column(this.Z, t);
    const seg = new Array(3 * n);
    for (let i = 0; i < n; i++) {
      hp[i] = this.prev(t, i);
      seg[3 * i] = ht[i];
      seg[3 * i + 1] = hp[i];
      seg[3 * i + 2] = null;
    }
    const C = this.ui.colors;
    P.restyle(this.mixDiv, { y: [seg, hp, ht, h, z], "marker.color": ["#c8c8c8", C.prev, C.cand, C.hidden,
                                                                       z.map(this.gateColor)] }, [0, 1, 2, 3, 4]);
  },

  // the next character
  plotTop(t) {
    const P = this.Plotly, k = this.p.top_k, ps = [], chars = [], text = [];
    for (let j = 0; j < k; j++) {
      const p = this.topP[t * k + j];
      ps.push(p);
      chars.push(plotlyText(showChar(this.p.tokens[this.topIdx[t * k + j]] ?? "?")));
      text.push((100 * p).toFixed(1) + "%");
    }
    P.restyle(this.topDiv, { x: [ps], y: [chars], text: [text] });  // one redraw: the characters are the categories
  },

  // Overlays placed from the figures' axes (after every step, hover, zoom, pan or resize).
  place() {
    if (!this.plots) return;
    const t = this.shownStep(), row = this.rowOf.get(this.unit), fl = this.heatDiv._fullLayout;
    [["xaxis", "yaxis"], ["xaxis2", "yaxis2"]].forEach(([xn, yn], k) => {
      const xa = fl[xn], ya = fl[yn], x = xa._offset + xa.l2p(t);
      const inside = x >= xa._offset - 1 && x <= xa._offset + xa._length + 1;
      box(this.marks[k], inside ? x - 1.5 : null, ya._offset, 3, ya._length);
      this.marks[k].dataset.x = t;
      for (const [elm, r] of [[this.selRows[k], row], [this.hovRows[k], this.hoverRow]]) {
        const y0 = r == null ? 0 : ya._offset + ya.l2p(r - 0.5), y1 = r == null ? 0 : ya._offset + ya.l2p(r + 0.5);
        box(elm, r == null ? null : xa._offset, Math.min(y0, y1), xa._length, Math.abs(y1 - y0));
        elm.dataset.row = r ?? "";
      }
    });
    const mf = this.mixDiv._fullLayout;
    if (!mf) return;
    const xa = mf.xaxis, size = mf._size;
    for (const [elm, r] of [[this.selBand, row], [this.hovBand, this.hoverRow]]) {
      const x0 = r == null ? 0 : xa._offset + xa.l2p(r - 0.5), x1 = r == null ? 0 : xa._offset + xa.l2p(r + 0.5);
      box(elm, r == null ? null : x0, size.t, x1 - x0, size.h);
      elm.dataset.row = r ?? "";
    }
  },
});
