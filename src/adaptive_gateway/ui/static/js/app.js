// The dashboard shell: log in with a gateway key, then route between pages (#/<page>).
import { api, errorText, esc, session } from "./core.js";
import { renderTopology } from "./topology.js";
import { PAGES } from "./pages.js";

const ROUTES = { topology: renderTopology, ...PAGES };
let cleanup = null;

function $(id) { return document.getElementById(id); }

async function identify() {
  const res = await api("/api/dashboard");
  if (!res.ok) return res;
  session.me = res.data;
  const p = res.data.principal;
  $("who").textContent = p.kind === "master" ? "master key" : `key ${p.id} (${p.roles.join(", ") || "no role"})`;
  return res;
}

function showLogin(message) {
  $("nav").hidden = true; $("logout").hidden = true; $("page").innerHTML = ""; $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("login-key").focus();
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "topology";
  const render = ROUTES[name] || ROUTES.topology;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  const page = $("page");
  page.innerHTML = "";
  cleanup = (await render(page)) || null;
}

async function start() {
  $("login").hidden = true;
  const res = await identify();
  if (!res.ok) {
    session.key = null;
    showLogin(res.status === 401 ? "That key is not valid for this gateway." : errorText(res));
    return;
  }
  $("nav").hidden = false; $("logout").hidden = false;
  await route();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  session.key = $("login-key").value.trim();
  $("login-key").value = "";
  start();
});
$("logout").addEventListener("click", () => { session.key = null; session.me = null; if (cleanup) cleanup(); showLogin(); });
window.addEventListener("hashchange", () => { if (session.me) route(); });

if (session.key) start(); else showLogin();
export { esc };
