// The playground's page logic: it starts Pyodide (served with the site, from the npm package
// `pyodide`), loads lrkit and lrkit_playground.py from lrkit.zip (built with the site), and
// places what lrkit_playground returns. Every number on the page comes from Python: this file
// only reads the inputs, keeps them in the URL (#spec=...&spec=...&steps=N&peak=X) and shows
// the results. No schedule formula is written here.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const specsBox = $("pg-specs"), stepsBox = $("pg-steps"), peakBox = $("pg-peak");
  const status = $("pg-status"), errorBox = $("pg-error"), chart = $("pg-chart");
  const readout = $("pg-readout"), list = $("pg-curves"), gallery = $("pg-gallery");
  const api = { ready: false, failed: null, timings: {}, redraws: [] };
  window.lrkitPlayground = api;
  let py = null, pg = null, pending = null, lastHash = null;

  // --- the URL: #spec=<url-encoded spec>&spec=...&steps=N&peak=X -----------------------------
  function readHash() {
    const out = { specs: [], steps: null, peak: null };
    const text = location.hash.replace(/^#/, "");
    if (!text) return null;
    for (const part of text.split("&")) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      const key = part.slice(0, eq);
      let value;
      try { value = decodeURIComponent(part.slice(eq + 1)); } catch (e) { continue; }
      if (key === "spec") out.specs.push(value);
      else if (key === "steps") out.steps = value;
      else if (key === "peak") out.peak = value;
    }
    return out;
  }
  function specsOf() {
    return specsBox.value.split("\n").map((s) => s.trim()).filter((s) => s.length > 0);
  }
  function hashOf() {
    const parts = specsOf().map((s) => "spec=" + encodeURIComponent(s));
    parts.push("steps=" + encodeURIComponent(stepsBox.value.trim()));
    parts.push("peak=" + encodeURIComponent(peakBox.value.trim()));
    return "#" + parts.join("&");
  }
  function loadHash() {
    const state = readHash();
    if (!state) return false;
    if (state.specs.length) specsBox.value = state.specs.join("\n");
    if (state.steps !== null) stepsBox.value = state.steps;
    if (state.peak !== null) peakBox.value = state.peak;
    return true;
  }

  // --- drawing -------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function curveItem(c, i) {
    const li = el("li", "pg-curve-item");
    li.dataset.curve = String(i);
    const head = el("div", "pg-curve-head");
    const swatch = el("span", "pg-swatch");
    swatch.style.background = c.color;
    head.appendChild(swatch);
    head.appendChild(el("code", "pg-input", c.input));
    li.appendChild(head);
    if (c.error !== null) {
      li.classList.add("pg-bad");
      li.appendChild(el("pre", "pg-spec-error", c.error));
      return li;
    }
    const canon = el("p", "pg-canonical-line");
    canon.appendChild(el("span", "pg-what", "canonical spec: "));
    canon.appendChild(el("code", "pg-canonical", c.canonical));
    li.appendChild(canon);
    if (c.note) li.appendChild(el("p", "pg-note", c.note));
    const details = el("details", "pg-code");
    details.appendChild(el("summary", "", "Code: PyTorch, optax, Keras, TensorFlow"));
    for (const [name, code] of Object.entries(c.snippets)) {
      details.appendChild(el("p", "pg-code-name", name));
      const pre = el("pre", "pg-snippet");
      pre.dataset.framework = name;
      pre.appendChild(el("code", "", code));
      details.appendChild(pre);
    }
    li.appendChild(details);
    return li;
  }
  // Each curve's steps and rates, from lrkit (series(i)), placed as a polyline; the numbers
  // are kept, exact, in its data-t and data-v attributes.
  function drawLines(curves) {
    const svg = chart.querySelector("svg");
    if (!svg) return;
    const g = svg.querySelector(".pg-lines"), d = svg.dataset;
    const left = Number(d.left), top = Number(d.top), width = Number(d.width);
    const height = Number(d.height), xmax = Number(d.xmax), ymax = Number(d.ymax);
    curves.forEach((c, i) => {
      if (!c.drawn) return;
      const proxy = pg.series(i);
      let ts, vs;
      try { [ts, vs] = proxy.toJs(); } finally { proxy.destroy(); }
      const points = new Array(ts.length);
      for (let k = 0; k < ts.length; k++) {
        points[k] = (left + (width * ts[k]) / xmax).toFixed(1) + "," +
          (top + height * (1 - vs[k] / ymax)).toFixed(1);
      }
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      const attrs = {
        class: "pg-curve", "data-curve": String(i), "data-t": ts.join(" "),
        "data-v": vs.join(" "), points: points.join(" "), fill: "none", stroke: c.color,
        "stroke-width": "1.8", "stroke-linejoin": "round",
      };
      for (const [k, v] of Object.entries(attrs)) line.setAttribute(k, v);
      g.appendChild(line);
    });
  }
  function redraw() {
    pending = null;
    if (!pg) return;
    const t0 = performance.now();
    const args = py.toPy(specsOf());
    let out;
    try {
      out = JSON.parse(pg.render(args, stepsBox.value, peakBox.value));
    } finally {
      args.destroy();
    }
    api.lastPythonMs = performance.now() - t0;
    if (out.error) {
      errorBox.textContent = out.error;
      errorBox.hidden = false;
    } else {
      errorBox.textContent = "";
      errorBox.hidden = true;
    }
    chart.innerHTML = out.svg;
    drawLines(out.curves);
    const t1 = performance.now();
    list.replaceChildren(...out.curves.map(curveItem));
    readout.textContent = "";
    const t2 = performance.now();
    chart.getBoundingClientRect();  // layout included in the time
    const ms = performance.now() - t0;
    api.lastParts = { python: api.lastPythonMs, chart: t1 - t0 - api.lastPythonMs,
                      text: t2 - t1, layout: t0 + ms - t2 };
    api.redraws.push(ms);
    api.lastRedrawMs = ms;
    const hash = hashOf();
    if (hash !== location.hash) {
      lastHash = hash;
      history.replaceState(null, "", hash);
    }
    chart.dataset.drawn = String(api.redraws.length);
    return ms;
  }
  function schedule() {
    if (pending !== null) clearTimeout(pending);
    pending = setTimeout(redraw, 40);  // one redraw per burst of keystrokes
  }
  api.redraw = redraw;
  api.idle = () => api.ready && pending === null;

  function hover(ev) {
    const svg = chart.querySelector("svg");
    if (!svg || !pg) return;
    const box = svg.getBoundingClientRect();
    const scale = box.width / svg.viewBox.baseVal.width;
    const x = (ev.clientX - box.left) / scale;
    const left = Number(svg.dataset.left), width = Number(svg.dataset.width);
    const steps = Number(svg.dataset.steps);
    const t = Math.round(((x - left) / width) * Math.max(steps - 1, 1));
    if (x < left - 4 || x > left + width + 4) { leave(); return; }
    const out = JSON.parse(pg.at(Math.min(Math.max(t, 0), steps - 1)));
    const cursor = svg.querySelector(".pg-cursor");
    cursor.setAttribute("x1", out.x);
    cursor.setAttribute("x2", out.x);
    cursor.setAttribute("visibility", "visible");
    for (const dot of svg.querySelectorAll(".pg-dot")) dot.setAttribute("visibility", "hidden");
    readout.replaceChildren(el("span", "pg-step", "step " + out.t + ": "));
    readout.dataset.step = String(out.t);
    for (const row of out.rows) {
      const dot = svg.querySelector('.pg-dot[data-curve="' + row.curve + '"]');
      if (dot) {
        dot.setAttribute("cx", out.x);
        dot.setAttribute("cy", row.y);
        dot.setAttribute("visibility", "visible");
      }
      const item = el("span", "pg-value");
      item.dataset.curve = String(row.curve);
      item.dataset.value = row.value;
      const sw = el("span", "pg-swatch");
      sw.style.background = dot ? dot.getAttribute("fill") : "#888";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(row.text));
      item.title = row.value;
      readout.appendChild(item);
    }
  }
  function leave() {
    const svg = chart.querySelector("svg");
    if (!svg) return;
    for (const e of svg.querySelectorAll(".pg-cursor, .pg-dot")) e.setAttribute("visibility", "hidden");
  }

  // --- start ---------------------------------------------------------------------------------
  async function start() {
    const t0 = performance.now();
    const download = fetch(new URL("lrkit.zip", location.href)).then((r) => {
      if (!r.ok) throw new Error("lrkit.zip: HTTP " + r.status);
      return r.arrayBuffer();
    });
    py = await loadPyodide({ indexURL: new URL("pyodide/", location.href).href });
    const t1 = performance.now();
    const zip = await download;
    py.unpackArchive(zip, "zip", { extractDir: "/home/pyodide/site-lrkit" });
    py.runPython("import sys; sys.path.insert(0, '/home/pyodide/site-lrkit')");
    pg = py.pyimport("lrkit_playground");
    const t2 = performance.now();
    loadHash();
    const t3 = performance.now();
    redraw();
    const t4 = performance.now();
    api.timings = {
      pyodideMs: t1 - t0, lrkitImportMs: t2 - t1, firstDrawMs: t4 - t3,
      sincePageOpenMs: t4, scriptStartMs: t0,
      lrkitVersion: pg.lrkit_version(), python: py.runPython("import sys; sys.version.split()[0]"),
    };
    status.textContent = "lrkit " + api.timings.lrkitVersion + " in Python " + api.timings.python +
      " (Pyodide " + py.version + "): started in " + (t1 - t0).toFixed(0) + " ms, lrkit imported in " +
      (t2 - t1).toFixed(0) + " ms, first chart drawn in " + (t4 - t3).toFixed(0) + " ms.";
    api.ready = true;
  }

  specsBox.addEventListener("input", schedule);
  stepsBox.addEventListener("input", schedule);
  peakBox.addEventListener("input", schedule);
  chart.addEventListener("mousemove", hover);
  chart.addEventListener("mouseleave", leave);
  window.addEventListener("hashchange", () => {
    if (location.hash === lastHash) return;
    if (loadHash()) redraw();
  });
  if (gallery) {
    gallery.addEventListener("change", () => {
      if (gallery.value) location.hash = gallery.value;
    });
  }
  loadHash();
  start().catch((err) => {
    api.failed = String(err && err.stack ? err.stack : err);
    status.textContent = "The playground could not start: " + err;
    status.classList.add("pg-failed");
  });
})();
