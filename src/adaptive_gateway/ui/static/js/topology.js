// The first screen: clients -> gateway -> providers -> models as a live SVG graph, refreshed every 2 s
// from /api/topology. Node and edge colours are the routing health (ok / degraded / down).
import { api, esc, failure, ms, num, pill } from "./core.js";

const W = 1180, NODE_W = 215, NODE_H = 46, GAP = 16, TOP = 40;
const COLS = { client: 16, gateway: 330, provider: 640, model: 950 };
const REFRESH_MS = 2000;

function layout(list, x) {
  return list.map((n, i) => ({ ...n, x, y: TOP + i * (NODE_H + GAP) }));
}

function edgePath(a, b) {
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
}

function width(rps) { return (1.5 + Math.min(8, Math.log2(1 + (rps || 0)) * 2)).toFixed(1); }

function nodeSvg(n, title, sub, cls) {
  return `<g class="node ${esc(cls)}" data-id="${esc(n.id)}" transform="translate(${n.x},${n.y})">
    <rect width="${NODE_W}" height="${NODE_H}" rx="8"></rect>
    <circle cx="14" cy="15" r="5" class="dot-${esc(n.health || "idle")}" fill="${colour(n.health)}"></circle>
    <text x="26" y="19">${esc(title.length > 24 ? title.slice(0, 23) + "…" : title)}</text>
    <text x="12" y="36" class="sub">${esc(sub.length > 36 ? sub.slice(0, 35) + "…" : sub)}</text></g>`;
}

function clientHealth(c) {
  if (!c.requests_60s) return "";
  return c.errors_60s >= c.requests_60s ? "down" : c.errors_60s ? "degraded" : "ok";
}

function colour(health) {
  return { ok: "#1a7f37", degraded: "#b7791f", down: "#c0392b" }[health] || "#98a2b3";
}

export function graphSvg(t) {
  const clients = layout(t.clients.length ? t.clients : [{ id: "client:none", client: "no clients yet", key: null, rps: 0, requests_60s: 0 }], COLS.client);
  const providers = layout(t.providers, COLS.provider);
  const models = layout(t.models, COLS.model);
  const rows = Math.max(clients.length, providers.length, models.length, 1);
  const height = TOP + rows * (NODE_H + GAP) + 10;
  const gateway = { id: "gateway", x: COLS.gateway, y: TOP + ((rows - 1) * (NODE_H + GAP)) / 2, health: "ok" };
  const byId = new Map([...clients, ...providers, ...models, gateway].map((n) => [n.id, n]));
  const edges = t.edges.map((e) => {
    const a = byId.get(e.from), b = byId.get(e.to);
    if (!a || !b) return "";
    const live = e.rps > 0 ? " live" : "";
    const label = e.rps > 0 ? `<text class="edge-label" x="${(a.x + NODE_W + b.x) / 2 - 12}" y="${(a.y + b.y) / 2 + NODE_H / 2 - 4}">${num(e.rps, 1)}/s</text>` : "";
    return `<path class="edge ${esc(e.health || "")}${live}" stroke-width="${width(e.rps)}" d="${edgePath(a, b)}"><title>${esc(e.deployment || `${e.from} → ${e.to}`)}: ${num(e.rps, 2)} req/s, ${num(e.requests_60s)} in 60 s</title></path>${label}`;
  }).join("");
  const g = t.gateway;
  const nodes = [
    ...clients.map((c) => nodeSvg({ ...c, health: clientHealth(c) }, c.client, c.key ? `key ${c.key} · ${num(c.rps, 1)}/s` : "send a request", clientHealth(c))),
    nodeSvg(gateway, `Gateway (${g.mode})`, `${num(g.rps, 1)}/s · ${g.inflight} in flight`, "gateway"),
    ...providers.map((p) => nodeSvg(p, p.name, `${p.kind} · ${p.locality} · ${num(p.rps, 1)}/s`, p.health)),
    ...models.map((m) => nodeSvg(m, m.name, `${m.kind}${m.aliases.length ? ` · ${m.aliases.length} alias` : ""} · ${num(m.rps, 1)}/s`, m.health)),
  ].join("");
  const titles = Object.entries({ Clients: COLS.client, Gateway: COLS.gateway, Providers: COLS.provider, Models: COLS.model })
    .map(([name, x]) => `<text class="col-title" x="${x}" y="22">${name}</text>`).join("");
  return `<svg id="topology-svg" viewBox="0 0 ${W} ${height}" role="img" aria-label="Live topology">${titles}${edges}${nodes}</svg>`;
}

function summary(t) {
  const g = t.gateway, lat = g.latency_ms || {};
  const cards = [
    ["requests / s", num(g.rps, 2)], ["requests in 60 s", num(g.requests_60s)], ["p50 latency", ms(lat.p50)],
    ["p99 latency", ms(lat.p99)], ["error rate", `${num((g.error_rate || 0) * 100, 1)} %`], ["in flight", num(g.inflight)],
  ];
  return cards.map(([k, v]) => `<div class="stat"><b>${v}</b><span>${k}</span></div>`).join("");
}

function details(t, id) {
  if (!id) return `<p class="muted">Click a node for details.</p>`;
  const deps = t.edges.filter((e) => e.deployment && (e.from === id || e.to === id));
  const node = [...t.clients, ...t.providers, ...t.models].find((n) => n.id === id);
  if (!node) return `<p class="muted">Click a node for details.</p>`;
  const head = `<h2>${esc(node.name || node.client)}</h2>` + (node.health ? pill(node.health) : "");
  const rows = deps.map((d) => `<tr><td>${esc(d.deployment)}</td><td>${pill(d.breaker, d.breaker === "closed" ? "ok" : d.breaker)}</td><td>${num(d.score)}</td><td>${ms(d.latency_ms)}</td><td>${num(d.rps, 2)}/s</td></tr>`).join("");
  const table = rows ? `<table><tr><th>deployment</th><th>breaker</th><th>health</th><th>latency</th><th>rate</th></tr>${rows}</table>` : "";
  const extra = node.fallbacks && node.fallbacks.length ? `<p>Fallbacks: ${esc(node.fallbacks.join(" → "))}</p>` : "";
  const aliases = node.aliases && node.aliases.length ? `<p>Aliases: ${esc(node.aliases.join(", "))}</p>` : "";
  const traffic = `<p>${num(node.requests_60s)} requests, ${num(node.errors_60s)} errors in the last 60 s.</p>`;
  return head + traffic + aliases + extra + table;
}

export async function renderTopology(el) {
  el.innerHTML = `<h1>Live topology</h1><div class="grid" id="topo-stats"></div>
    <div class="legend"><span><span class="dot ok"></span>healthy</span><span><span class="dot degraded"></span>degraded</span>
    <span><span class="dot down"></span>down</span><span>edge width: requests / s (last 10 s)</span></div>
    <div class="split"><div id="topo-graph"></div><div class="card" id="topo-detail"></div></div>`;
  let selected = null, latest = null, stopped = false;
  const draw = () => {
    if (!latest) return;
    el.querySelector("#topo-stats").innerHTML = summary(latest);
    el.querySelector("#topo-graph").innerHTML = graphSvg(latest);
    el.querySelector("#topo-detail").innerHTML = details(latest, selected);
    el.querySelectorAll(".node").forEach((n) => n.addEventListener("click", () => { selected = n.dataset.id; draw(); }));
  };
  const load = async () => {
    if (stopped || document.hidden) return;
    const res = await api("/api/topology");
    if (stopped) return;
    if (!res.ok) { el.querySelector("#topo-graph").innerHTML = failure(res); return; }
    latest = res.data;
    draw();
  };
  await load();
  const timer = setInterval(load, REFRESH_MS);
  return () => { stopped = true; clearInterval(timer); };
}
