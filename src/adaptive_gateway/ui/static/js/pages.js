// Pages over traffic and routing: Models, Requests, Usage & costs, Receipts, Policies & trust, Settings.
import { api, capable, esc, failure, iso, ms, num, onRows, pill, table, unavailable, usd, when } from "./core.js";
import { barChart, lineChart } from "./charts.js";
import { SETUP_PAGES } from "./setup_pages.js";

async function models(el) {
  el.innerHTML = `<h1>Models</h1><div id="models-body"><p class="muted">Loading…</p></div>`;
  const [topo, health] = await Promise.all([
    api("/api/topology"),
    capable("health_providers") ? api("/health/providers") : Promise.resolve(null),
  ]);
  const body = el.querySelector("#models-body");
  if (!topo.ok) { body.innerHTML = failure(topo); return; }
  const t = topo.data, lat = t.latency_by_model || {};
  const deps = {};
  if (health && health.ok) {
    for (const p of Object.values(health.data.providers)) for (const d of p.deployments) deps[d.deployment] = d;
  }
  const rows = t.models;
  body.innerHTML = table([
    ["model", (m) => `<span class="dot ${esc(m.health)}"></span><b>${esc(m.name)}</b>`],
    ["kind", (m) => esc(`${m.kind} · ${m.strategy}`)],
    ["aliases", (m) => esc(m.aliases.join(", "))],
    ["fallbacks", (m) => esc(m.fallbacks.join(" → "))],
    ["req/s", (m) => num(m.rps, 2)],
    ["60 s", (m) => `${num(m.requests_60s)} (${num(m.errors_60s)} errors)`],
    ["p50 / p99", (m) => lat[m.name] ? `${ms(lat[m.name].p50)} / ${ms(lat[m.name].p99)}` : "–"],
  ], rows, { empty: "No models configured." }) + `<h2>Deployments</h2>` + table([
    ["deployment", (e) => `<span class="dot ${esc(e.health)}"></span>${esc(e.deployment)}`],
    ["breaker", (e) => pill(e.breaker, e.breaker === "closed" ? "ok" : e.breaker)],
    ["health", (e) => num(e.score)],
    ["latency (EWMA)", (e) => ms(e.latency_ms)],
    ["price in / out per Mtok", (e) => deps[e.deployment] ? `${usd(deps[e.deployment].cost.input_per_mtok)} / ${usd(deps[e.deployment].cost.output_per_mtok)}` : "–"],
    ["last error", (e) => esc(deps[e.deployment] ? deps[e.deployment].health.last_error || "" : "")],
  ], t.edges.filter((e) => e.deployment));
}

async function requests(el) {
  el.innerHTML = `<h1>Recent requests</h1><div class="row">
    <input id="rq-q" placeholder="request, trace or receipt id"><select id="rq-status"><option value="">any status</option><option value="ok">ok</option><option value="error">errors</option></select>
    <button id="rq-go" class="secondary">Filter</button><span class="muted">live from this gateway process, newest first</span></div><div id="rq-body"></div>`;
  const load = async () => {
    const params = new URLSearchParams({ limit: "200" });
    const q = el.querySelector("#rq-q").value.trim(), st = el.querySelector("#rq-status").value;
    if (q) params.set("q", q);
    if (st) params.set("status", st);
    const res = await api(`/api/traces?${params}`);
    const body = el.querySelector("#rq-body");
    if (!res.ok) { body.innerHTML = failure(res); return; }
    body.innerHTML = table([
      ["time", (r) => when(r.ts)], ["status", (r) => pill(String(r.status), r.status < 400 ? "ok" : "error")],
      ["model", (r) => esc(r.model)], ["deployment", (r) => esc(r.deployment || "–")], ["client", (r) => esc(r.client)],
      ["key", (r) => esc(r.key || "–")], ["latency", (r) => ms(r.latency_ms)], ["ttft", (r) => ms(r.ttft_ms)],
      ["tokens in / out", (r) => `${num(r.input_tokens)} / ${num(r.output_tokens)}`], ["cost", (r) => usd(r.cost_usd)],
      ["trust", (r) => esc(r.trust_level || "–")], ["receipt", (r) => r.receipt_id ? `<a href="#/receipts?id=${esc(r.receipt_id)}">${esc(r.receipt_id)}</a>` : "–"],
      ["error", (r) => esc(r.error || "")],
    ], res.data.data, { empty: "No requests yet." });
  };
  el.querySelector("#rq-go").addEventListener("click", load);
  await load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 5000);
  return () => clearInterval(timer);
}

const METRICS = { requests: ["requests", (v) => num(v)], cost_usd: ["cost", usd], tokens: ["tokens", (v) => num(v)] };

function seriesOf(minutes, metric) {
  const names = new Map();
  for (const row of minutes) for (const [name, v] of Object.entries(row.groups)) {
    const val = metric === "tokens" ? v.input_tokens + v.output_tokens : v[metric];
    names.set(name, (names.get(name) || 0) + val);
  }
  const top = [...names.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map((e) => e[0]);
  const series = top.map((name) => ({ name, points: minutes.map((row) => {
    const v = row.groups[name];
    return [row.t, v ? (metric === "tokens" ? v.input_tokens + v.output_tokens : v[metric]) : 0];
  }) }));
  return { series, totals: [...names.entries()].sort((a, b) => b[1] - a[1]) };
}

async function usage(el) {
  el.innerHTML = `<h1>Usage &amp; costs</h1><div class="row">
    <label>group by <select id="us-by"><option>model</option><option>provider</option><option>key</option><option>tenant</option><option>client</option></select></label>
    <label>show <select id="us-metric"><option value="requests">requests</option><option value="cost_usd">cost</option><option value="tokens">tokens</option></select></label></div>
    <h2>Last 60 minutes (live, this gateway process)</h2><div id="us-live"></div>
    <h2>Stored usage (last 30 days)</h2><div id="us-stored"></div>`;
  const load = async () => {
    const by = el.querySelector("#us-by").value, metric = el.querySelector("#us-metric").value;
    const [label, fmt] = METRICS[metric];
    const live = await api(`/api/stats?window=3600&series=${by}&minutes=60`);
    const liveEl = el.querySelector("#us-live");
    if (!live.ok) liveEl.innerHTML = failure(live);
    else {
      const { series, totals } = seriesOf(live.data.series.minutes, metric);
      liveEl.innerHTML = `<div class="card">${lineChart(series, fmt)}</div><div class="card"><b>${esc(label)} by ${esc(by)}</b>${barChart(totals.slice(0, 12), fmt)}</div>`;
    }
    const stored = el.querySelector("#us-stored");
    if (!capable("admin_api")) { stored.innerHTML = `<div class="notice">Stored usage comes from the accounts API (/api/usage), which this gateway does not serve.</div>`; return; }
    if (by === "client") { stored.innerHTML = `<p class="muted">Stored usage is not kept by client; pick model, provider, key or tenant.</p>`; return; }
    const [days, groups] = await Promise.all([api("/api/usage?group_by=day"), api(`/api/usage?group_by=${by}`)]);
    if (!days.ok || !groups.ok) { stored.innerHTML = failure(days.ok ? groups : days); return; }
    const val = (r) => (metric === "tokens" ? (r.input_tokens || 0) + (r.output_tokens || 0) : r[metric] || 0);
    const daily = [...days.data.rows].sort((a, b) => String(a.day).localeCompare(String(b.day)));
    stored.innerHTML = `<div class="card"><b>${esc(label)} per day</b>${lineChart([{ name: label, points: daily.map((r) => [Date.parse(r.day) / 1000, val(r)]) }], fmt)}</div>
      <div class="card"><b>${esc(label)} by ${esc(by)}</b>${barChart(groups.data.rows.slice(0, 15).map((r) => [r[by] || "–", val(r)]), fmt)}</div>`;
  };
  el.querySelectorAll("select").forEach((s) => s.addEventListener("change", load));
  await load();
}

function receiptDetail(r) {
  const route = r.routing;
  const cands = route ? table([["#", (c) => String(route.candidates.indexOf(c) + 1)], ["deployment", (c) => esc(c.deployment)], ["where", (c) => esc(c.locality)], ["role", (c) => esc(c.role)]], route.candidates) : "";
  const skipped = route && route.skipped.length ? `<h2>Skipped</h2>` + table([["deployment", (s) => esc(s.deployment)], ["why", (s) => esc(s.reason)]], route.skipped) : "";
  const blocked = r.blocked && r.blocked.length ? `<h2>Refused by trust policy</h2>` + table([["deployment", (s) => esc(s.deployment)], ["why", (s) => esc(s.reason)]], r.blocked) : "";
  const attempts = r.attempts && r.attempts.length ? `<h2>Failed attempts</h2>` + table([["deployment", (a) => esc(a.deployment)], ["status", (a) => esc(a.status)], ["error", (a) => esc(a.error)]], r.attempts) : "";
  const trust = r.trust || {};
  return `<div class="card" id="receipt-detail"><h2>Receipt ${esc(r.id)}</h2>
    <p>${pill(r.outcome, r.outcome === "success" ? "ok" : r.outcome)} ${esc(r.ts)} · model <b>${esc(r.model)}</b> · status ${esc(r.status)} · ${ms(r.latency_ms)} · ${usd(r.cost_usd)}</p>
    <p><b>Why it went where it went:</b> ${route && route.chosen ? `${esc(route.chosen.deployment)}: ${esc(route.chosen.reason)}` : "no deployment answered"}${route ? ` (strategy ${esc(route.strategy)})` : ""}</p>
    <p><b>Trust:</b> level ${esc(trust.level || "–")}${trust.effective_level ? `, sent as ${esc(trust.effective_level)}` : ""}; ${esc((trust.reasons || []).join("; "))}${trust.findings_text ? ` · findings: ${esc(trust.findings_text)}` : ""}</p>
    ${r.redacted && Object.keys(r.redacted).length ? `<p><b>Redacted:</b> ${esc(Object.entries(r.redacted).map(([k, v]) => `${k} × ${v}`).join(", "))}</p>` : ""}
    <h2>Candidates</h2>${cands || '<p class="muted">No route was planned.</p>'}${skipped}${blocked}${attempts}</div>`;
}

async function receipts(el) {
  if (!capable("receipts")) { el.innerHTML = unavailable("Receipts", "Receipts come from the trust extension (GET /api/receipts), which this gateway does not serve."); return; }
  el.innerHTML = `<h1>Receipts</h1><div class="row"><input id="rc-q" placeholder="search id, model, deployment, key">
    <select id="rc-outcome"><option value="">any outcome</option><option>success</option><option>blocked</option><option>failed</option><option>cancelled</option></select>
    <select id="rc-level"><option value="">any trust level</option><option>public</option><option>internal</option><option>confidential</option><option>secret</option></select>
    <button id="rc-go" class="secondary">Search</button></div><div id="rc-detail"></div><div id="rc-body"></div>`;
  const open = async (id) => {
    const res = await api(`/api/receipts/${encodeURIComponent(id)}`);
    el.querySelector("#rc-detail").innerHTML = res.ok ? receiptDetail(res.data) : failure(res);
  };
  const load = async () => {
    const params = new URLSearchParams({ limit: "200" });
    for (const [k, sel] of [["outcome", "#rc-outcome"], ["level", "#rc-level"]]) if (el.querySelector(sel).value) params.set(k, el.querySelector(sel).value);
    const res = await api(`/api/receipts?${params}`);
    const body = el.querySelector("#rc-body");
    if (!res.ok) { body.innerHTML = failure(res); return; }
    const q = el.querySelector("#rc-q").value.trim().toLowerCase();
    const rows = res.data.data.filter((r) => !q || JSON.stringify([r.id, r.request_id, r.model, r.used, r.principal]).toLowerCase().includes(q));
    body.innerHTML = table([
      ["time", (r) => esc(r.ts)], ["receipt", (r) => esc(r.id)], ["outcome", (r) => pill(r.outcome, r.outcome === "success" ? "ok" : r.outcome)],
      ["model", (r) => esc(r.model)], ["used", (r) => esc(r.used ? r.used.deployment : "–")], ["trust", (r) => esc(r.trust ? r.trust.level : "–")],
      ["key", (r) => esc(r.principal ? r.principal.id : "–")], ["cost", (r) => usd(r.cost_usd)],
    ], rows, { onRow: true, empty: "No receipts yet." });
    onRows(body, rows, (r) => open(r.id));
  };
  el.querySelector("#rc-go").addEventListener("click", load);
  await load();
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("id");
  if (wanted) await open(wanted);
}

async function policies(el) {
  el.innerHTML = `<h1>Policies &amp; trust</h1><div id="po-body"><p class="muted">Loading…</p></div>`;
  const res = await api("/api/settings");
  const body = el.querySelector("#po-body");
  if (!res.ok) { body.innerHTML = failure(res); return; }
  const t = res.data.trust;
  const kv = (obj) => table([["", (r) => esc(r[0])], ["", (r) => esc(typeof r[1] === "object" ? JSON.stringify(r[1]) : r[1])]], Object.entries(obj || {}), { empty: "defaults" });
  body.innerHTML = `<div class="card"><p>Trust scanning is <b>${t.enabled ? "on" : "off"}</b>; keys without their own level are <b>${esc(t.default_level)}</b>;
    redaction mode <b>${esc(t.redact_mode)}</b>; consent for hosted providers: <b>${esc(String(t.require_consent))}</b>; external decision endpoint: <b>${t.decision_endpoint ? "yes" : "no"}</b>.</p>
    <h2>Action per level</h2>${kv(t.actions)}<h2>Highest level per locality without a grant</h2>${kv(t.max_levels)}
    <h2>Detectors</h2>${kv(t.detectors)}<h2>Custom patterns</h2>${esc(t.patterns.map((p) => p.name).join(", ") || "none")}
    <h2>Per-key and per-tenant levels</h2>${kv({ ...t.keys, ...t.tenants })}<h2>Receipts</h2>${kv(t.receipts)}</div>
    <div class="card"><h2>Try a prompt</h2>${capable("simulate") ? `<p class="muted">Runs the trust policy and routing without calling any model (POST /v1/simulate).</p>
      <div class="row"><input id="po-model" placeholder="model" value="${esc((res.data.models || [])[0] || "")}"><input id="po-text" placeholder="a prompt" size="60"><button id="po-go">Simulate</button></div><pre id="po-out" hidden></pre>`
      : `<div class="notice">Simulation (POST /v1/simulate) is not served by this gateway.</div>`}</div>`;
  const go = el.querySelector("#po-go");
  if (go) go.addEventListener("click", async () => {
    const out = el.querySelector("#po-out");
    const r = await api("/v1/simulate", { method: "POST", body: { model: el.querySelector("#po-model").value, messages: [{ role: "user", content: el.querySelector("#po-text").value }] } });
    out.hidden = false;
    out.textContent = JSON.stringify(r.data, null, 2);
  });
}

async function settings(el) {
  el.innerHTML = `<h1>Settings</h1><div id="se-body"><p class="muted">Loading…</p></div>`;
  const res = await api("/api/settings");
  const body = el.querySelector("#se-body");
  if (!res.ok) { body.innerHTML = failure(res); return; }
  const s = res.data;
  const kv = (obj) => table([["setting", (r) => esc(r[0])], ["value", (r) => esc(typeof r[1] === "object" ? JSON.stringify(r[1]) : r[1])]], Object.entries(obj));
  body.innerHTML = `<p class="muted">The running configuration (digest ${esc(s.config_digest)}); secrets are never shown. Edit the config file to change it: the gateway reloads it.</p>
    <div class="card"><h2>General</h2>${kv({ mode: s.mode, auth: s.auth_mode, "master key configured": s.master_key_configured, store: s.store, counters: s.state, home: s.home, "worker pid": s.pid })}</div>
    <div class="card"><h2>Server</h2>${kv(s.server)}</div>
    <div class="card"><h2>Providers</h2>${table([["name", (r) => esc(r[0])], ["kind", (r) => esc(r[1].kind)], ["where", (r) => esc(r[1].locality)], ["key set", (r) => (r[1].has_key ? "yes" : "no")]], Object.entries(s.providers))}</div>
    <div class="card"><h2>Models and aliases</h2><p>${esc(s.models.join(", "))}</p>${kv(s.aliases)}</div>
    <div class="card"><h2>Observability</h2>${kv(s.observability)}</div>
    <div class="card"><h2>Limits and budgets</h2>${kv({ ...s.limits, ...s.budgets })}</div>`;
}

export const PAGES = { models, requests, usage, receipts, policies, settings, ...SETUP_PAGES };
export { iso };
