// Shared helpers: the API client (Bearer key from sessionStorage), escaping, formatting, page timers.
const KEY = "agw.key";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(v) { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); },
  me: null, // {principal, admin, capabilities} from /api/dashboard
};

// Every API call of the dashboard. Never throws: {ok, status, data}; data is parsed JSON when possible.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${session.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (err) {
    return { ok: false, status: 0, data: { error: { message: `the gateway did not answer (${err.message})` } } };
  }
  let data = null;
  const text = await resp.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = { text }; }
  return { ok: resp.ok, status: resp.status, data };
}

export function errorText(res) {
  const e = res.data && res.data.error;
  return (e && e.message) || (res.data && res.data.detail) || `HTTP ${res.status}`;
}

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function esc(v) { return v === null || v === undefined ? "" : String(v).replace(/[&<>"']/g, (c) => ESC[c]); }

export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
export function ms(v) { return v === null || v === undefined ? "–" : `${num(v, v < 10 ? 1 : 0)} ms`; }
export function usd(v) { return v === null || v === undefined ? "–" : `$${Number(v).toFixed(v && v < 0.01 ? 6 : 2)}`; }
export function when(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString() : "–"; }
export function iso(s) { return s ? new Date(s).toLocaleString() : "–"; }
export function pill(text, cls) { return `<span class="pill ${esc(cls || text)}">${esc(text)}</span>`; }

// A page that cannot work on this gateway says so plainly.
export function unavailable(title, why) {
  return `<h1>${esc(title)}</h1><div class="notice"><b>Not available on this gateway.</b> ${esc(why)}</div>`;
}
export function failure(res) { return `<p class="error">${esc(errorText(res))}</p>`; }

export function table(columns, rows, { onRow, empty = "Nothing yet." } = {}) {
  if (!rows.length) return `<p class="muted">${esc(empty)}</p>`;
  const head = columns.map((c) => `<th>${esc(c[0])}</th>`).join("");
  const body = rows.map((r, i) => `<tr${onRow ? ` class="clickable" data-row="${i}"` : ""}>` +
    columns.map((c) => `<td>${c[1](r)}</td>`).join("") + "</tr>").join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

// Clickable rows: wire after the table is in the DOM.
export function onRows(el, rows, fn) {
  el.querySelectorAll("tr[data-row]").forEach((tr) => tr.addEventListener("click", () => fn(rows[Number(tr.dataset.row)])));
}

export function capable(name) { return Boolean(session.me && session.me.capabilities[name]); }

export function diffHtml(diff) {
  return diff.split("\n").map((line) => {
    const cls = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    return cls ? `<span class="${cls}">${esc(line)}</span>` : esc(line);
  }).join("\n");
}
