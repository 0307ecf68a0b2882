// Vigil dashboard: polls the worker's JSON every 2 s and renders the Vega-Lite specs the
// server builds (streams/charts/vega.py) with the vendored vega-embed. No build step.
const POLL_MS = 2000;
const state = { entity: null, picked: false, caseId: null, funnelMetric: null, funnelType: null,
                metrics: [], entitiesSig: "", chartSig: "", funnelSig: "", caseSig: "" };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// The token: given once in the URL fragment (/dashboard/#token=…, never sent to the server
// nor in a referrer), or typed in when asked, then kept for this tab only.
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
  const typed = window.prompt("Dashboard token (a VIGIL_API_TOKENS token; an operator's may act)");
  if (typed) sessionStorage.setItem(TOKEN_KEY, typed.trim());
  who = null;
}
window.addEventListener("hashchange", () => { readToken(); who = null; });
let asked = false;
function authHeaders() {
  const token = readToken();
  return token ? { Authorization: "Bearer " + token } : {};
}
async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store", headers: authHeaders() });
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (!asked) { asked = true; askToken(); }
  }
  if (!r.ok) throw new Error(url + " " + r.status);
  return r.json();
}
async function postJSON(url, body) {
  const r = await fetch(url, { method: "POST", cache: "no-store", body: JSON.stringify(body),
    headers: { ...authHeaders(), "Content-Type": "application/json" } });
  let answer = {};
  try { answer = await r.json(); } catch (e) { answer = {}; }
  return { status: r.status, ok: r.ok, answer };
}

const fmt = (v, d = 2) => (v === null || v === undefined) ? "—" :
  (typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(d)) : String(v));
const when = (t) => t ? t.replace("T", " ").slice(0, 16) : "—";
const entityKey = (e) => `${e.metric}|${e.entity_type}|${e.entity_id}`;
const ABBREV = { provider: "prov", clinician: "clin", device: "dev" };
const STATUS = { open: "open", awaiting_signoff: "awaiting sign-off", monitoring: "monitoring", closed: "closed" };
const statusText = (s) => STATUS[s] || s || "—";

// ---- Vega-Lite, without eval (the page's CSP has no 'unsafe-eval') -------------------
// Each chart offers "Save as SVG" / "Save as PNG" (vega-embed's export actions); the
// source and editor links are off (the editor is an outside site).
const EMBED = { actions: { export: true, source: false, compiled: false, editor: false },
                renderer: "svg", ast: true, defaultStyle: false,
                tooltip: { disableDefaultStyle: true } };
async function render(container, spec) {
  container.replaceChildren();
  const box = el("div", { class: "vega" });
  container.appendChild(box);
  try {
    await window.vegaEmbed(box, spec, { ...EMBED, expr: window.vega.expressionInterpreter });
    container.dataset.rendered = "1";
  } catch (error) {
    container.appendChild(el("p", { class: "empty" }, "chart failed: " + error));
  }
}

// ---- who is reading ------------------------------------------------------------------
let who = null;
async function refreshWho() {
  if (who) return who;
  try { who = await getJSON("/dashboard/api/me"); } catch (e) { who = null; }
  $("#whoami").textContent = who && who.name ? `${who.name} (${who.role})` : "no token";
  for (const b of document.querySelectorAll("#case-actions button")) b.disabled = !(who && who.may_act);
  return who;
}

// ---- cases table -----------------------------------------------------------------------
function filterQuery() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (v) params.set(k, v);
  return params.toString();
}
function renderCases(rows) {
  const tbody = $("#cases tbody");
  tbody.replaceChildren();
  $("#cases-empty").hidden = rows.length > 0;
  for (const c of rows) {
    const tr = el("tr", { "data-case-id": c.case_id, class: c.case_id === state.caseId ? "selected" : "" });
    const lvl = el("td"); lvl.appendChild(el("span", { class: `lvl ${c.level}` }, c.level));
    lvl.appendChild(el("span", { class: `dir ${c.direction}` }, c.direction === "better" ? " ▼ better" : " ▲ worse"));
    tr.appendChild(lvl);
    tr.appendChild(el("td", { class: "wrap" }, `${ABBREV[c.entity_type] || c.entity_type} ${c.entity_id}`));
    tr.appendChild(el("td", { class: "wrap" }, c.metric));
    tr.appendChild(el("td", { class: "col-stage wrap" }, c.stage || "—"));
    tr.appendChild(el("td", { class: "col-status" }, statusText(c.status)));
    tr.appendChild(el("td", { class: "col-deadline" }, c.deadline_text || "—"));
    tr.appendChild(el("td", { class: "col-opened" }, when(c.opened_at)));
    tr.addEventListener("click", () => openCase(c.case_id));
    tbody.appendChild(tr);
  }
}

// ---- entities and charts ---------------------------------------------------------------
function renderEntities(entities) {
  const sig = entities.map(entityKey).join(",");
  $("#entity-count").textContent = `${entities.length} entities`;
  if (sig === state.entitiesSig) return;
  state.entitiesSig = sig;
  const select = $("#entity");
  select.replaceChildren();
  for (const e of entities) {
    const label = `${e.metric} · ${e.entity_type} ${e.entity_id}` + (e.injected ? ` (${e.injected})` : "");
    select.appendChild(el("option", { value: entityKey(e) }, label));
  }
  if (state.entity) select.value = state.entity;
}
// Until someone picks an entity, chart the first case's (the table is alarms first), else an
// entity where the demo injected an outlier, else the first.
function defaultEntity(entities, cases) {
  if (state.picked || !entities.length) return;
  const keys = new Set(entities.map(entityKey));
  const fromCase = cases.map(entityKey).find((k) => keys.has(k));
  const injected = entities.find((e) => e.injected);
  const choice = fromCase || (injected ? entityKey(injected) : entityKey(entities[0]));
  if (choice !== state.entity) { state.entity = choice; state.chartSig = ""; $("#entity").value = choice; }
}
async function refreshChart() {
  if (!state.entity) return;
  const [metric, entity_type, entity_id] = state.entity.split("|");
  const q = new URLSearchParams({ metric, entity_type, entity_id });
  let view;
  try { view = await getJSON("/dashboard/api/chart?" + q); } catch (e) { return; }
  const sig = state.entity + JSON.stringify(view.charts).length + ":" + view.signals.length +
    ":" + (view.monitors[0] ? view.monitors[0].points.length : 0);
  if (sig === state.chartSig) return;
  state.chartSig = sig;
  $("#chart-title").textContent = `${metric} · ${entity_type} ${entity_id}`;
  const box = $("#charts");
  box.replaceChildren();
  for (const chart of view.charts) {
    const holder = el("div", { class: `chart-box chart-${chart.kind}`, "data-chart-id": chart.id });
    box.appendChild(holder);
    render(holder, chart.spec);
  }
}
async function refreshFunnel() {
  if (!state.funnelMetric) return;
  const q = new URLSearchParams({ metric: state.funnelMetric, entity_type: state.funnelType || "provider" });
  let view;
  try { view = await getJSON("/dashboard/api/funnel?" + q); } catch (e) { return; }
  const sig = q + JSON.stringify(view.points);
  if (sig === state.funnelSig) return;
  state.funnelSig = sig;
  if (!view.points.length) { $("#funnel").replaceChildren(el("p", { class: "empty" }, "no entity has expected counts yet")); return; }
  render($("#funnel"), view.spec);
}
function renderMetrics(metrics) {
  if (state.metrics.length) return;
  state.metrics = metrics;
  const filter = document.querySelector("#filters select[name=metric]");
  const fm = $("#funnel-metric");
  for (const m of metrics) {
    filter.appendChild(el("option", { value: m.name }, m.name));
    fm.appendChild(el("option", { value: m.name }, m.name));
  }
  if (metrics.length) { state.funnelMetric = metrics[0].name; setFunnelTypes(); }
}
function setFunnelTypes() {
  const m = state.metrics.find((x) => x.name === state.funnelMetric);
  const types = (m && m.entities.length ? m.entities : ["provider"]);
  const ft = $("#funnel-type");
  ft.replaceChildren();
  for (const t of types) ft.appendChild(el("option", { value: t }, t));
  state.funnelType = types[0];
}

// ---- the case drawer --------------------------------------------------------------------
function field(dl, name, value, id) {
  dl.appendChild(el("dt", {}, name));
  dl.appendChild(el("dd", id ? { "data-field": id } : {}, value === null || value === undefined || value === "" ? "—" : String(value)));
}
function renderTimeline(groups) {
  const ol = $("#case-timeline");
  ol.replaceChildren();
  for (const g of groups) {
    const li = el("li", { "data-kind": g.kind });
    if (g.count > 1) {
      const details = el("details");
      details.appendChild(el("summary", {}, g.label));
      const inner = el("ol", { class: "entries" });
      for (const e of g.entries) inner.appendChild(el("li", {}, `${when(e.at)} — ${e.summary}`));
      details.appendChild(inner);
      li.appendChild(el("span", { class: "at" }, when(g.first_at) + " "));
      li.appendChild(details);
    } else {
      li.appendChild(el("span", { class: "at" }, when(g.first_at) + " "));
      li.appendChild(el("span", { class: "kind" }, g.label));
    }
    ol.appendChild(li);
  }
}
async function openCase(caseId) {
  state.caseId = caseId;
  state.caseSig = "";
  $("#case-message").textContent = "";
  for (const tr of document.querySelectorAll("#cases tbody tr")) tr.classList.toggle("selected", tr.dataset.caseId === caseId);
  await refreshCase();
}
async function refreshCase() {
  if (!state.caseId) return;
  let found;
  try { found = await getJSON(`/dashboard/api/cases/${encodeURIComponent(state.caseId)}`); }
  catch (e) { return; }
  const { case: c, drawer: d } = found;
  const sig = JSON.stringify([c.status, c.stage, c.signals, c.actions.length, found.timeline.length, found.verification.status]);
  $("#case-panel").hidden = false;
  if (sig === state.caseSig) return;
  state.caseSig = sig;
  $("#case-title").textContent = `${c.level.toUpperCase()} · ${c.entity_type} ${c.entity_id} · ${c.metric}`;
  const v = $("#case-verification");
  v.className = "badge " + found.verification.status;
  v.textContent = found.verification.detail;
  const dl = $("#case-fields");
  dl.replaceChildren();
  field(dl, "case", c.case_id);
  field(dl, "status", `${statusText(c.status)}${c.stage ? " — stage " + c.stage : ""}`, "status");
  field(dl, "statistic vs limit", `${fmt(d.statistic)} against ${fmt(d.limit)} (${d.monitor || "—"}; alert ${fmt(d.alert_limit)}, alarm ${fmt(d.alarm_limit)})`, "statistic");
  field(dl, "observed / expected", `O ${fmt(d.observed, 0)} · E ${fmt(d.expected, 1)} · O/E ${fmt(d.o_e)}`, "oe");
  field(dl, "opened", when(d.opened_at), "opened");
  field(dl, "first signal", when(d.first_signal_at), "first_signal");
  // A chart's kept history may not reach back to its last 0: then the start is a bound.
  field(dl, "excursion start", d.excursion_start_at && !d.excursion_start_exact
    ? `on or before ${when(d.excursion_start_at)} (exact date in the look-back pack)`
    : when(d.excursion_start_at), "excursion_start");
  field(dl, "last signal", when(d.last_signal_at), "last_signal");
  field(dl, "next step", d.next_step, "next_step");
  field(dl, "deadline", d.deadline_text, "deadline");
  field(dl, "route / policy", `${d.route || "—"} / ${d.policy || "—"}`, "route");
  field(dl, "told", (d.recipients || []).join(", "), "recipients");
  field(dl, "signals", c.signals);
  const actions = (c.actions || []).map((a) => `${a.action} by ${a.by}`).join("; ");
  field(dl, "actions", actions, "actions");
  $("#case-pack").dataset.url = found.pack_url;
  const chart = found.charts[0];
  if (chart) render($("#case-chart"), chart.spec); else $("#case-chart").replaceChildren();
  renderTimeline(found.timeline);
}
async function act(action) {
  if (!state.caseId) return;
  const note = $("#case-note").value.trim();
  const url = `/dashboard/api/cases/${encodeURIComponent(state.caseId)}/${action}`;
  const { status, ok, answer } = await postJSON(url, note ? { note } : {});
  const msg = $("#case-message");
  msg.className = ok ? "hint ok" : "hint refused";
  msg.textContent = ok ? `${action}: logged ${answer.logged.length} entries` : `${action} refused (${status}): ${answer.error || ""}`;
  if (ok) $("#case-note").value = "";
  state.caseSig = "";
  await refreshCase();
  await poll();
}
async function downloadPack(event) {
  event.preventDefault();
  const url = event.currentTarget.dataset.url;
  if (!url) return;
  const r = await fetch(url, { headers: authHeaders() });
  if (!r.ok) { $("#case-message").textContent = `look-back pack: ${r.status}`; return; }
  const link = el("a", { href: URL.createObjectURL(await r.blob()), download: `${state.caseId}-lookback` });
  link.click();
}

// ---- polling ----------------------------------------------------------------------------
async function poll() {
  try {
    const s = await getJSON("/dashboard/api/summary?" + filterQuery());
    $("#count-alarm").textContent = `${s.counts.alarm} alarm${s.counts.alarm === 1 ? "" : "s"}`;
    $("#count-alert").textContent = `${s.counts.alert} alert${s.counts.alert === 1 ? "" : "s"}`;
    const v = $("#verification");
    v.className = "badge " + s.verification.status;
    v.textContent = "log: " + s.verification.detail;
    const rm = s.read_model;
    const lag = Object.values(rm.topics).map((t) => t.lag === null ? "?" : t.lag);
    const rmNode = $("#read-model");
    rmNode.textContent = rm.caught_up ? `read model: up to date (${rm.entities} entities)` : `read model: behind by ${lag.join(" + ")} records`;
    rmNode.dataset.caughtUp = rm.caught_up ? "1" : "0";
    renderMetrics(s.metrics);
    renderCases(s.cases);
    renderEntities(s.entities);
    defaultEntity(s.entities, s.cases);
    $("#live").textContent = "updated " + new Date().toLocaleTimeString();
    $("#live").classList.remove("stale");
    await refreshWho();
    await Promise.all([refreshChart(), refreshFunnel(), refreshCase()]);
  } catch (e) {
    $("#live").textContent = "not updating: " + e.message;
    $("#live").classList.add("stale");
  }
}
function start() {
  readToken();
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#filters").addEventListener("change", poll);
  $("#entity").addEventListener("change", (e) => { state.entity = e.target.value; state.picked = true; state.chartSig = ""; refreshChart(); });
  $("#funnel-metric").addEventListener("change", (e) => { state.funnelMetric = e.target.value; setFunnelTypes(); refreshFunnel(); });
  $("#funnel-type").addEventListener("change", (e) => { state.funnelType = e.target.value; refreshFunnel(); });
  $("#case-close").addEventListener("click", () => { state.caseId = null; $("#case-panel").hidden = true; });
  $("#token-change").addEventListener("click", () => { askToken(); poll(); });
  $("#case-pack").addEventListener("click", downloadPack);
  for (const b of document.querySelectorAll("#case-actions button")) b.addEventListener("click", () => act(b.dataset.action));
  poll();
  setInterval(poll, POLL_MS);
}
start();
