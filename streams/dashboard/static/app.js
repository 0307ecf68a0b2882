// Vigil dashboard: polls the worker's read-only JSON every 2 s and draws SVG charts.
"use strict";
const POLL_MS = 2000;
const NS = "http://www.w3.org/2000/svg";
const state = { entity: null, caseId: null, funnelMetric: null, funnelType: null,
                metrics: [], lastOk: 0, entitiesSig: "" };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4))
                                      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
// The read token: given once in the URL fragment (/dashboard/#token=…, never sent to the
// server nor in a referrer), or typed in when asked, then kept for this tab only.
const TOKEN_KEY = "vigil.dashboard.token";
function readToken() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}
function askToken() {
  const typed = window.prompt("Dashboard read token (a VIGIL_API_TOKENS token)");
  if (typed) sessionStorage.setItem(TOKEN_KEY, typed.trim());
}
let asked = false;
async function getJSON(url) {
  const token = readToken();
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(url, { cache: "no-store", headers });
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (!asked) { asked = true; askToken(); }
  }
  if (!r.ok) throw new Error(url + " " + r.status);
  return r.json();
}
document.addEventListener("DOMContentLoaded", () => {
  const filters = document.getElementById("filters");
  if (filters) filters.addEventListener("submit", (event) => event.preventDefault());
});
const fmt = (v, d = 2) => (v === null || v === undefined) ? "—" :
  (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v).toFixed(d));
const when = (t) => t ? t.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") : "—";
const entityKey = (e) => `${e.metric}|${e.entity_type}|${e.entity_id}`;

// ---- a line chart in SVG ------------------------------------------------------------
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}
function lineChart(spec) {
  const W = 420, H = 190, L = 44, R = 10, T = 10, B = 26;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart " + (spec.cls || "") });
  const xs = [], ys = [];
  for (const s of spec.series) for (const [x, y] of s.points) { xs.push(x); ys.push(y); }
  for (const h of spec.hlines || []) if (h.y !== null && h.y !== undefined) ys.push(h.y);
  if (!xs.length) { svg.appendChild(el("svg:text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet")); return svg; }
  let x0 = Math.min(...xs), x1 = Math.max(...xs); if (x1 === x0) x1 = x0 + 1;
  let y0 = Math.min(0, ...ys), y1 = Math.max(...ys); if (y1 === y0) y1 = y0 + 1;
  const pad = (y1 - y0) * 0.06; y1 += pad; if (y0 < 0) y0 -= pad;
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  for (const t of niceTicks(y0, y1, 4)) {
    svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: sy(t), y2: sy(t), class: "grid" }));
    svg.appendChild(el("svg:text", { x: L - 4, y: sy(t) + 3, "text-anchor": "end" }, fmt(t, 1)));
  }
  for (const t of niceTicks(x0, x1, 5).filter((v) => Number.isInteger(v))) {
    svg.appendChild(el("svg:text", { x: sx(t), y: H - B + 13, "text-anchor": "middle" }, fmt(t, 0)));
  }
  svg.appendChild(el("svg:line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  svg.appendChild(el("svg:text", { x: W - R, y: H - 2, "text-anchor": "end" }, spec.xLabel || "n"));
  if (y0 < 0) svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: sy(0), y2: sy(0), class: "zero" }));
  for (const h of spec.hlines || []) {
    if (h.y === null || h.y === undefined) continue;
    svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: sy(h.y), y2: sy(h.y), class: "limit " + h.cls }));
    svg.appendChild(el("svg:text", { x: W - R - 2, y: sy(h.y) - 3, "text-anchor": "end", class: "label" }, `${h.cls} ${fmt(h.y)}`));
  }
  for (const s of spec.series) {
    if (!s.points.length) continue;
    const d = s.points.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    svg.appendChild(el("svg:path", { d, class: "series " + (s.cls || ""), "data-points": s.points.length }));
  }
  for (const m of spec.marks || []) {
    if (m.x === null || m.y === null || m.y === undefined) continue;
    const c = el("svg:circle", { cx: sx(m.x), cy: sy(m.y), r: 3.5, class: "mark " + m.level });
    c.appendChild(el("svg:title", {}, `${m.level} ${m.direction} at n=${m.x}`));
    svg.appendChild(c);
  }
  if (spec.legend) {
    const g = el("svg:g", { class: "legend" });
    spec.legend.forEach(([label, cls], i) => {
      g.appendChild(el("svg:line", { x1: L + 8 + i * 90, x2: L + 26 + i * 90, y1: T + 6, y2: T + 6, class: "series " + cls }));
      g.appendChild(el("svg:text", { x: L + 30 + i * 90, y: T + 9 }, label));
    });
    svg.appendChild(g);
  }
  return svg;
}
function figure(caption, svg) {
  const f = el("figure"); f.appendChild(el("figcaption", {}, caption)); f.appendChild(svg); return f;
}

// ---- charts of one entity --------------------------------------------------------------
function drawCharts(view) {
  const box = $("#charts"); box.replaceChildren();
  $("#chart-title").textContent = `${view.metric} · ${view.entity_type} ${view.entity_id}`;
  for (const m of view.monitors) {
    const marks = m.signals.map((s) => ({ x: s.n, y: s.statistic, level: s.level, direction: s.direction }));
    const hl = [{ y: m.alert, cls: "alert" }, { y: m.alarm, cls: "alarm" }];
    const what = m.below ? "ascertainment" : (m.kind || "").includes("cusum") ? "CUSUM" : m.kind;
    box.appendChild(figure(`${what} ${m.monitor}${m.direction ? " (" + m.direction + ")" : ""}`,
      lineChart({ series: [{ points: m.points, cls: "cusum" }], hlines: hl, marks, cls: "cusum" })));
  }
  box.appendChild(figure("VLAD: Σ(expected − observed)",
    lineChart({ series: [{ points: view.vlad, cls: "vlad" }], cls: "vlad" })));
  box.appendChild(figure("Observed vs expected (cumulative)",
    lineChart({ series: [{ points: view.observed, cls: "observed" }, { points: view.expected, cls: "expected" }],
                legend: [["observed", "observed"], ["expected", "expected"]], cls: "oe" })));
}

// ---- funnel plot -----------------------------------------------------------------------
function drawFunnel(view) {
  const box = $("#funnel"); box.replaceChildren();
  if (!view.points.length) { box.appendChild(el("p", { class: "empty" }, "No entities with expected counts yet.")); return; }
  const W = 640, H = 300, L = 46, R = 14, T = 12, B = 30;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart funnel" });
  const ex = view.points.map((p) => p.expected);
  const x1 = Math.max(...ex) * 1.08;
  const lim = view.limits;
  const rs = view.points.map((p) => p.ratio);
  let y1 = Math.max(2, ...rs) * 1.05; y1 = Math.min(y1, Math.max(...rs) * 1.1 + 0.5);
  const sx = (x) => L + x / x1 * (W - L - R);
  const sy = (y) => T + (1 - Math.min(y, y1) / y1) * (H - T - B);
  for (const t of niceTicks(0, y1, 5)) {
    svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: sy(t), y2: sy(t), class: "grid" }));
    svg.appendChild(el("svg:text", { x: L - 4, y: sy(t) + 3, "text-anchor": "end" }, fmt(t, 1)));
  }
  for (const t of niceTicks(0, x1, 6)) svg.appendChild(el("svg:text", { x: sx(t), y: H - B + 13, "text-anchor": "middle" }, fmt(t, 0)));
  svg.appendChild(el("svg:line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  svg.appendChild(el("svg:text", { x: W - R, y: H - 2, "text-anchor": "end" }, "expected"));
  svg.appendChild(el("svg:text", { x: 4, y: T + 4 }, "O/E"));
  svg.appendChild(el("svg:line", { x1: L, x2: W - R, y1: sy(view.target), y2: sy(view.target), class: "zero" }));
  lim.forEach((band, k) => {
    const cls = k === 0 ? "alert" : "alarm";
    for (const side of ["lower", "upper"]) {
      const pts = band.expected.map((e, i) => [e, band[side][i]]).filter(([e, v]) => e <= x1 && isFinite(v));
      if (!pts.length) continue;
      const d = pts.map(([e, v], i) => `${i ? "L" : "M"}${sx(e).toFixed(1)},${sy(v).toFixed(1)}`).join("");
      svg.appendChild(el("svg:path", { d, class: "limit " + cls }));
    }
  });
  for (const p of view.points) {
    const cls = "pt " + (p.direction || "") + " " + (p.level || "");
    const c = el("svg:circle", { cx: sx(p.expected), cy: sy(p.ratio), r: p.level ? 5 : 3.5, class: cls });
    c.appendChild(el("svg:title", {}, `${p.entity_id}: O=${fmt(p.observed, 0)} E=${fmt(p.expected)} O/E=${fmt(p.ratio)}`));
    svg.appendChild(c);
    if (p.level) {
      const right = sx(p.expected) > W - 170;
      svg.appendChild(el("svg:text", { x: sx(p.expected) + (right ? -8 : 8), y: sy(p.ratio) + 3, class: "label",
        "text-anchor": right ? "end" : "start" }, `${p.entity_id} (${p.level}, ${p.direction})`));
    }
  }
  const g = el("svg:g", { class: "legend" });
  [["95% limits", "alert"], ["99.8% limits", "alarm"]].forEach(([label, cls], i) => {
    g.appendChild(el("svg:line", { x1: W - 200 + i * 95, x2: W - 182 + i * 95, y1: T + 4, y2: T + 4, class: "limit " + cls }));
    g.appendChild(el("svg:text", { x: W - 178 + i * 95, y: T + 7 }, label));
  });
  svg.appendChild(g);
  box.appendChild(svg);
}

// ---- cases ---------------------------------------------------------------------------
function drawCases(rows) {
  const body = $("#cases tbody"); body.replaceChildren();
  $("#cases-empty").hidden = rows.length > 0;
  for (const c of rows) {
    const tr = el("tr", { "data-case-id": c.case_id });
    if (c.case_id === state.caseId) tr.classList.add("selected");
    tr.appendChild(el("td", { class: "lvl " + c.level }, c.level));
    tr.appendChild(el("td", { class: "dir " + c.direction }, c.direction));
    tr.appendChild(el("td", {}, `${c.entity_type} ${c.entity_id}`));
    tr.appendChild(el("td", {}, c.metric));
    tr.appendChild(el("td", {}, c.stage || c.status));
    tr.appendChild(el("td", {}, when(c.deadline)));
    tr.addEventListener("click", () => openCase(c.case_id, c));
    body.appendChild(tr);
  }
}
function badge(node, v) {
  node.className = "badge " + v.status;
  node.textContent = v.status === "intact" ? `✓ ${v.detail}` : v.detail;
}
async function openCase(caseId, row) {
  state.caseId = caseId;
  if (row) selectEntity({ metric: row.metric, entity_type: row.entity_type, entity_id: row.entity_id });
  const data = await getJSON(`/dashboard/api/cases/${encodeURIComponent(caseId)}`);
  const c = data.case;
  $("#case-title").textContent = `${c.level.toUpperCase()} ${c.direction} · ${c.entity_type} ${c.entity_id}`;
  badge($("#case-verification"), data.verification);
  const dl = $("#case-fields"); dl.replaceChildren();
  for (const [k, v] of [["case", c.case_id], ["metric", c.metric], ["status", c.status], ["policy", c.policy],
                        ["stage", c.stage], ["deadline", when(c.deadline)], ["opened", when(c.opened_at)],
                        ["signals", c.signals], ["route", c.route]]) {
    dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, v === null ? "—" : String(v)));
  }
  const ol = $("#case-timeline"); ol.replaceChildren();
  for (const item of data.timeline) {
    const li = el("li", { "data-seq": item.seq });
    li.appendChild(el("span", { class: "at" }, `#${item.seq} ${when(item.at)} `));
    li.appendChild(el("span", { class: "kind" }, item.kind + ": "));
    li.appendChild(el("span", {}, item.summary));
    ol.appendChild(li);
  }
  $("#case-panel").hidden = false;
  document.querySelectorAll("#cases tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.caseId === caseId));
}

// ---- entities and polling -------------------------------------------------------------
function selectEntity(e) { state.entity = e; $("#entity").value = entityKey(e); refreshChart(); }
function drawEntities(entities) {
  const sig = entities.map(entityKey).join(",");
  if (sig === state.entitiesSig) return;
  state.entitiesSig = sig;
  const sel = $("#entity"); sel.replaceChildren();
  let group = null, last = null;
  for (const e of entities) {
    if (e.metric !== last) { group = el("optgroup", { label: e.metric }); sel.appendChild(group); last = e.metric; }
    const mark = e.injected ? `  [injected: ${e.injected}]` : "";
    group.appendChild(el("option", { value: entityKey(e) }, `${e.entity_type} ${e.entity_id}${mark}`));
  }
  if (state.entity) sel.value = entityKey(state.entity);
}
function drawMetricOptions(metrics) {
  if (state.metrics.length) return;
  state.metrics = metrics;
  const filter = $("#filters [name=metric]"), fm = $("#funnel-metric");
  for (const m of metrics) { filter.appendChild(el("option", {}, m.name)); fm.appendChild(el("option", {}, m.name)); }
  state.funnelMetric = metrics.length ? metrics[0].name : null;
  fillFunnelTypes();
}
function fillFunnelTypes() {
  const m = state.metrics.find((x) => x.name === state.funnelMetric);
  const ft = $("#funnel-type"); ft.replaceChildren();
  const types = (m && m.entities.length) ? m.entities : ["provider"];
  for (const t of types) ft.appendChild(el("option", {}, t));
  state.funnelType = types[0];
}
function filterQuery() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (v) params.set(k, v);
  return params.toString();
}
async function refreshChart() {
  if (!state.entity) return;
  const e = state.entity;
  try {
    const view = await getJSON(`/dashboard/api/chart?metric=${encodeURIComponent(e.metric)}&entity_type=${encodeURIComponent(e.entity_type)}&entity_id=${encodeURIComponent(e.entity_id)}`);
    drawCharts(view);
  } catch (err) {
    $("#chart-title").textContent = `${e.metric} · ${e.entity_type} ${e.entity_id}`;
    $("#charts").replaceChildren(el("p", { class: "empty" }, "No chart history for this entity on this worker yet."));
  }
}
async function refreshFunnel() {
  if (!state.funnelMetric) return;
  drawFunnel(await getJSON(`/dashboard/api/funnel?metric=${encodeURIComponent(state.funnelMetric)}&entity_type=${encodeURIComponent(state.funnelType)}`));
}
async function poll() {
  try {
    const s = await getJSON("/dashboard/api/summary?" + filterQuery());
    drawMetricOptions(s.metrics);
    drawCases(s.cases);
    drawEntities(s.entities);
    $("#count-alarm").textContent = `${s.counts.alarm} alarm${s.counts.alarm === 1 ? "" : "s"}`;
    $("#count-alert").textContent = `${s.counts.alert} alert${s.counts.alert === 1 ? "" : "s"}`;
    badge($("#verification"), s.verification);
    if (!state.entity) {
      const binary = new Set(s.metrics.filter((m) => m.kind === "binary_outcome").map((m) => m.name));
      const first = s.cases.find((c) => c.level === "alarm" && binary.has(c.metric))
        || s.cases.find((c) => c.level === "alarm") || s.cases[0];
      const pick = first ? { metric: first.metric, entity_type: first.entity_type, entity_id: first.entity_id } : s.entities[0];
      if (pick) selectEntity(pick);
    } else { await refreshChart(); }
    await refreshFunnel();
    state.lastOk = Date.now();
    $("#live").textContent = "live · updated " + new Date().toLocaleTimeString();
    $("#live").classList.remove("stale");
  } catch (err) {
    $("#live").textContent = "reconnecting…"; $("#live").classList.add("stale");
  }
}
$("#filters").addEventListener("change", poll);
$("#filters [name=q]").addEventListener("input", poll);
$("#entity").addEventListener("change", (ev) => {
  const [metric, entity_type, ...rest] = ev.target.value.split("|");
  selectEntity({ metric, entity_type, entity_id: rest.join("|") });
});
$("#funnel-metric").addEventListener("change", (ev) => { state.funnelMetric = ev.target.value; fillFunnelTypes(); refreshFunnel(); });
$("#funnel-type").addEventListener("change", (ev) => { state.funnelType = ev.target.value; refreshFunnel(); });
$("#case-close").addEventListener("click", () => { $("#case-panel").hidden = true; state.caseId = null; });
poll();
setInterval(poll, POLL_MS);
