// Pages over accounts and setup: Keys & tenants, Integrations, Doctor, Consent ledger, Memory & handoffs.
import { api, capable, diffHtml, errorText, esc, failure, iso, num, onRows, pill, session, table, unavailable, usd } from "./core.js";

function val(el, sel) { return el.querySelector(sel).value.trim(); }
function optNum(v) { return v === "" ? null : Number(v); }

async function keys(el) {
  if (!capable("admin_api")) { el.innerHTML = unavailable("Keys & tenants", "Virtual keys and tenants come from the accounts admin API (/api/keys), which this gateway does not serve."); return; }
  const admin = session.me.admin;
  el.innerHTML = `<h1>Keys &amp; tenants</h1>
    <div class="card"><h2>New key</h2>${admin ? `<form id="key-form" class="row">
      <input id="k-name" placeholder="name" required><select id="k-role"><option value="">no admin role</option><option>viewer</option><option>tenant-admin</option><option>admin</option></select>
      <select id="k-tenant"><option value="">no tenant</option></select><input id="k-budget" type="number" min="0" step="0.01" placeholder="budget USD / month">
      <input id="k-rpm" type="number" min="1" placeholder="requests / min"><input id="k-models" placeholder="allowed models (comma separated)">
      <button type="submit">Create key</button></form>` : `<p class="muted">Creating keys needs the master key or an admin key.</p>`}<div id="k-created"></div></div>
    <div class="card"><h2>Keys</h2><div id="k-list"></div></div>
    <div class="card"><h2>Tenants</h2>${admin ? `<form id="t-form" class="row"><input id="t-name" placeholder="tenant name" required>
      <input id="t-budget" type="number" min="0" step="0.01" placeholder="budget USD / month"><button type="submit" class="secondary">Create tenant</button></form>` : ""}<div id="t-list"></div></div>`;
  const loadTenants = async () => {
    const res = await api("/api/tenants");
    const list = el.querySelector("#t-list");
    if (!res.ok) { list.innerHTML = failure(res); return []; }
    list.innerHTML = table([["name", (t) => esc(t.name)], ["id", (t) => esc(t.id)], ["budget", (t) => (t.budget_usd === null ? "–" : `${usd(t.budget_usd)} / ${esc(t.budget_period || "month")}`)], ["rpm", (t) => num(t.rpm)]], res.data, { empty: "No tenants." });
    const sel = el.querySelector("#k-tenant");
    if (sel) sel.innerHTML = `<option value="">no tenant</option>` + res.data.map((t) => `<option value="${esc(t.id)}">${esc(t.name)}</option>`).join("");
    return res.data;
  };
  const loadKeys = async () => {
    const res = await api("/api/keys");
    const list = el.querySelector("#k-list");
    if (!res.ok) { list.innerHTML = failure(res); return; }
    const rows = res.data;
    list.innerHTML = table([
      ["name", (k) => esc(k.name)], ["id", (k) => esc(k.id)], ["prefix", (k) => `<code>${esc(k.prefix)}</code>`], ["tenant", (k) => esc(k.tenant_id || "–")],
      ["role", (k) => esc(k.role || "–")], ["budget", (k) => (k.budget_usd === null ? "–" : usd(k.budget_usd))], ["rpm", (k) => num(k.rpm)],
      ["models", (k) => esc(k.allowed_models ? k.allowed_models.join(", ") : "all")],
      ["state", (k) => (k.revoked_at ? pill("revoked", "down") : pill("active", "ok"))],
      ["", (k) => (admin && !k.revoked_at ? `<button class="danger" data-revoke="${esc(k.id)}">Revoke</button>` : "")],
    ], rows, { empty: "No virtual keys yet." });
    list.querySelectorAll("button[data-revoke]").forEach((b) => b.addEventListener("click", async () => {
      if (!confirm(`Revoke key ${b.dataset.revoke}? Clients using it are refused at once.`)) return;
      const r = await api(`/api/keys/${encodeURIComponent(b.dataset.revoke)}/revoke`, { method: "POST" });
      if (!r.ok) alert(errorText(r));
      await loadKeys();
    }));
  };
  const form = el.querySelector("#key-form");
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const models = val(el, "#k-models");
    const body = { name: val(el, "#k-name"), role: val(el, "#k-role") || null, tenant_id: val(el, "#k-tenant") || null,
      budget_usd: optNum(val(el, "#k-budget")), rpm: optNum(val(el, "#k-rpm")), allowed_models: models ? models.split(",").map((m) => m.trim()).filter(Boolean) : null };
    const res = await api("/api/keys", { method: "POST", body });
    const out = el.querySelector("#k-created");
    if (!res.ok) { out.innerHTML = failure(res); return; }
    out.innerHTML = `<p><b>Key created. Copy it now: it is shown only this once and stored only as a hash.</b></p>
      <div class="row"><div class="keybox" id="k-secret">${esc(res.data.key)}</div><button class="secondary" id="k-copy">Copy</button><button class="secondary" id="k-hide">Done</button></div>`;
    el.querySelector("#k-copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(res.data.key).catch(() => {}));
    el.querySelector("#k-hide").addEventListener("click", () => { out.innerHTML = ""; });
    form.reset();
    await loadKeys();
  });
  const tform = el.querySelector("#t-form");
  if (tform) tform.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await api("/api/tenants", { method: "POST", body: { name: val(el, "#t-name"), budget_usd: optNum(val(el, "#t-budget")) } });
    if (!res.ok) alert(errorText(res));
    tform.reset();
    await loadTenants();
  });
  await Promise.all([loadTenants(), loadKeys()]);
}

async function integrations(el) {
  if (!capable("integrations")) { el.innerHTML = unavailable("Integrations", "Client discovery and the safe config writer are not part of this gateway."); return; }
  el.innerHTML = `<h1>Integrations</h1><p class="muted">AI clients found on the machine the gateway runs on, and what is wired to it.
    Enabling shows the exact diff first; applying writes it with a backup (master key only); undo restores the backup.</p><div id="in-body"><p class="muted">Looking around…</p></div><div id="in-diff"></div>`;
  const body = el.querySelector("#in-body"), diffEl = el.querySelector("#in-diff");
  const master = session.me.principal.kind === "master";
  const load = async () => {
    const res = await api("/api/integrations");
    if (!res.ok) { body.innerHTML = failure(res); return; }
    const d = res.data;
    const found = new Set(d.clients.filter((c) => c.found).map((c) => c.name));
    body.innerHTML = `<div class="card"><h2>Clients</h2>` + table([
      ["target", (t) => `<b>${esc(t.name)}</b>`], ["what it does", (t) => esc(t.summary)],
      ["found here", (t) => (found.has(t.name) ? pill("found", "ok") : pill("not found", "idle"))],
      ["integrated", (t) => (d.integrated.some((m) => m.target === t.name) ? pill("yes", "ok") : "no")],
      ["", (t) => `<button class="secondary" data-preview="${esc(t.name)}">Preview</button>` + (master && d.integrated.some((m) => m.target === t.name) ? ` <button class="danger" data-undo="${esc(t.name)}">Undo</button>` : "")],
    ], d.targets) + `</div><div class="card"><h2>Integrated files</h2>` + table([
      ["target", (m) => esc(m.target)], ["when", (m) => esc(m.created)], ["files", (m) => esc(m.files.map((f) => `${f.path} (${f.status})`).join(", "))],
    ], d.integrated, { empty: "Nothing is integrated yet." }) + `</div><div class="card"><h2>Local runtimes reachable</h2>` + table([
      ["kind", (r) => esc(r.kind)], ["base URL", (r) => esc(r.base_url)], ["models", (r) => num(r.models.length)],
    ], d.runtimes, { empty: "None found." }) + `</div>`;
    body.querySelectorAll("button[data-preview]").forEach((b) => b.addEventListener("click", () => preview(b.dataset.preview)));
    body.querySelectorAll("button[data-undo]").forEach((b) => b.addEventListener("click", async () => {
      const r = await api("/api/integrations/undo", { method: "POST", body: { target: b.dataset.undo } });
      diffEl.innerHTML = r.ok ? `<div class="card">Restored: ${esc(r.data.files.join(", "))}</div>` : failure(r);
      await load();
    }));
  };
  const preview = async (target) => {
    if (!master) { diffEl.innerHTML = `<div class="notice">Previewing and applying integrations needs the master key.</div>`; return; }
    const res = await api("/api/integrations/preview", { method: "POST", body: { target } });
    if (!res.ok) { diffEl.innerHTML = failure(res); return; }
    const p = res.data;
    diffEl.innerHTML = `<div class="card"><h2>${esc(target)}: ${p.unchanged ? "already points at the gateway" : "changes"}</h2>
      ${p.unchanged ? "" : `<pre>${diffHtml(p.diff)}</pre><button id="in-apply">Apply these changes</button>`}<p class="muted">${esc(p.instructions)}</p></div>`;
    const apply = el.querySelector("#in-apply");
    if (apply) apply.addEventListener("click", async () => {
      const r = await api("/api/integrations/apply", { method: "POST", body: { target, digest: p.digest } });
      diffEl.innerHTML = r.ok ? `<div class="card">${esc(target)}: ${esc(r.data.status)}${r.data.backup ? ` (backup ${esc(r.data.backup)})` : ""}</div>` : failure(r);
      await load();
    });
  };
  await load();
}

async function doctor(el) {
  if (!capable("doctor")) { el.innerHTML = unavailable("Doctor", "The doctor (adaptive_gateway.doctor) is not part of this gateway."); return; }
  el.innerHTML = `<h1>Doctor</h1><p class="muted">Checks the config, files, store, Redis, providers, clients and clock, as
    <code>adaptive-llm-gateway doctor</code> does. Fixes are listed; apply them with <code>doctor --fix</code>.</p>
    <button id="dr-run">Run the checks</button><div id="dr-body"></div>`;
  el.querySelector("#dr-run").addEventListener("click", async () => {
    const body = el.querySelector("#dr-body");
    body.innerHTML = `<p class="muted">Running…</p>`;
    const res = await api("/api/doctor", { method: "POST" });
    if (!res.ok) { body.innerHTML = failure(res); return; }
    body.innerHTML = `<p>${res.data.ok ? pill("no failures", "ok") : pill("some checks fail", "fail")}</p>` + table([
      ["status", (f) => pill(f.status, f.status === "ok" ? "ok" : f.status)], ["check", (f) => esc(f.check)], ["finding", (f) => esc(f.summary)],
      ["what it means", (f) => esc(f.meaning)], ["fix", (f) => (f.fix ? `<code>${esc(f.fix)}</code>` : "")],
    ], res.data.findings);
  });
}

async function consent(el) {
  if (!capable("consent")) { el.innerHTML = unavailable("Consent ledger", "The consent ledger is not part of this gateway."); return; }
  el.innerHTML = `<h1>Consent ledger</h1><div id="co-body"><p class="muted">Loading…</p></div>`;
  const res = await api("/api/consent");
  const body = el.querySelector("#co-body");
  if (!res.ok) { body.innerHTML = failure(res); return; }
  const d = res.data;
  if (!d.exists) { body.innerHTML = `<p class="muted">No consent recorded yet (${esc(d.path)} does not exist).</p>`; return; }
  body.innerHTML = `<p>${d.verified ? pill("hash chain verified", "ok") : pill("hash chain BROKEN", "fail")} ${esc(d.path)}</p>
    ${d.problems.length ? table([["line", (p) => esc(p.line)], ["problem", (p) => esc(p.kind)], ["detail", (p) => esc(p.detail)]], d.problems) : ""}
    <h2>Granted scopes</h2><p>${esc(d.granted.join(", ") || "none")}</p><h2>Entries (newest first)</h2>` + table([
    ["#", (e) => esc(e.seq)], ["time", (e) => esc(e.ts)], ["actor", (e) => esc(e.actor)], ["action", (e) => pill(e.action, e.action === "grant" ? "ok" : "down")],
    ["scope", (e) => esc(e.scope)], ["reason", (e) => esc(e.reason)],
  ], d.entries);
}

async function memory(el) {
  if (!capable("memory")) { el.innerHTML = unavailable("Memory & handoffs", "Shared memory is not part of this gateway."); return; }
  el.innerHTML = `<h1>Memory &amp; handoffs</h1><div class="row"><input id="me-q" placeholder="search memory"><select id="me-type"><option value="">all types</option>
    <option>decision</option><option>task</option><option>session</option><option>handoff</option><option>note</option></select><button id="me-go" class="secondary">Show</button>
    <span class="muted">read-only</span></div><div id="me-item"></div><div id="me-body"></div>`;
  const body = el.querySelector("#me-body"), itemEl = el.querySelector("#me-item");
  const open = async (row) => {
    const res = await api(`/api/memory?id=${encodeURIComponent(row.id)}&namespace=${encodeURIComponent(row.namespace)}`);
    itemEl.innerHTML = res.ok ? `<div class="card"><h2>${esc(res.data.item.title)}</h2><p class="muted">${esc(res.data.item.type)} · ${esc(res.data.item.namespace)} · ${esc(res.data.item.trust_level)} · by ${esc(res.data.item.author)} · ${iso(res.data.item.updated_at)}</p><pre>${esc(res.data.item.body)}</pre></div>` : failure(res);
  };
  const load = async () => {
    const params = new URLSearchParams();
    if (val(el, "#me-q")) params.set("q", val(el, "#me-q"));
    if (el.querySelector("#me-type").value) params.set("type", el.querySelector("#me-type").value);
    const res = await api(`/api/memory?${params}`);
    if (!res.ok) { body.innerHTML = failure(res); return; }
    if (!res.data.available) { body.innerHTML = `<p class="muted">No shared memory yet (${esc(res.data.root)}): agents create it through the MCP tools or <code>adaptive-llm-gateway memory</code>.</p>`; return; }
    const rows = res.data.hits || res.data.items;
    body.innerHTML = table([
      ["title", (r) => esc(r.title)], ["type", (r) => esc(r.type)], ["namespace", (r) => esc(r.namespace)], ["trust", (r) => esc(r.trust_level)],
      [res.data.hits ? "match" : "updated", (r) => (res.data.hits ? esc(r.snippet) : iso(r.updated_at))],
    ], rows, { onRow: true, empty: "Nothing found." });
    onRows(body, rows, open);
  };
  el.querySelector("#me-go").addEventListener("click", load);
  await load();
}

export const SETUP_PAGES = { keys, integrations, doctor, consent, memory };
