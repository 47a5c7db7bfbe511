"""``GET /status``: the public status page. Providers and models with their health, as HTML or JSON;
never a URL, key, error text or traffic figure (anyone who can reach the port may read it)."""

from __future__ import annotations

from html import escape
from typing import Any

import orjson

from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.routing.explain import deployment_view
from adaptive_gateway.server.observability_topology import WORST, health_of

WORDS = {"ok": "operational", "degraded": "degraded", "down": "down", "idle": "no deployments"}
COLOURS = {"ok": "#1a7f37", "degraded": "#b7791f", "down": "#c0392b", "idle": "#777"}


def status_data(gw: Gateway) -> dict[str, Any]:
    cfg = gw.config
    router = gw.executor.router
    now = router.clock()
    providers: dict[str, str] = {name: "ok" for name in cfg.providers}
    models: dict[str, str] = {}
    for model in cfg.models.values():
        for dep in model.deployments:
            if dep.model_name != model.name:
                continue
            view = deployment_view(dep, router.state(dep), now)
            h = health_of(view["health"]["score"], view["breaker"]["state"])
            providers[dep.provider.name] = max(providers[dep.provider.name], h, key=WORST.index)
            best = models.get(model.name)
            models[model.name] = h if best is None else min(best, h, key=WORST.index)
    for name in cfg.models:
        models.setdefault(name, "idle")
    overall = max([*models.values(), "ok"], key=lambda h: WORST.index(h) if h in WORST else 0)
    return {
        "status": WORDS[overall],
        "mode": cfg.source.mode,
        "providers": [
            {
                "name": n,
                "kind": cfg.providers[n].kind,
                "locality": cfg.providers[n].locality,
                "status": WORDS[h],
            }
            for n, h in sorted(providers.items())
        ],
        "models": [{"name": n, "status": WORDS[h]} for n, h in sorted(models.items())],
    }


def _rows(items: list[dict[str, Any]], extra: str) -> str:
    out = []
    for item in items:
        health = next((k for k, v in WORDS.items() if v == item["status"]), "idle")
        dot = f'<span class="dot" style="background:{COLOURS[health]}"></span>'
        more = f"<td>{escape(str(item.get(extra, '')))}</td>" if extra else ""
        out.append(f"<tr><td>{dot}{escape(item['name'])}</td>{more}<td>{escape(item['status'])}</td></tr>")
    return "".join(out)


def status_page(gw: Gateway, as_json: bool) -> tuple[bytes, bytes]:
    """The page body and its content type."""
    data = status_data(gw)
    if as_json:
        return orjson.dumps(data), b"application/json"
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Gateway status</title>
<style>body{{font:15px system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;width:100%;margin-bottom:2em}}td,th{{text-align:left;padding:.4em;
border-bottom:1px solid #eee}}.dot{{display:inline-block;width:.7em;height:.7em;border-radius:50%;
margin-right:.5em}}</style></head><body><h1>Adaptive LLM Gateway: {escape(data["status"])}</h1>
<p>Mode: {escape(data["mode"])}</p>
<h2>Providers</h2><table><tr><th>provider</th><th>where</th><th>status</th></tr>
{_rows(data["providers"], "locality")}</table>
<h2>Models</h2><table><tr><th>model</th><th>status</th></tr>{_rows(data["models"], "")}</table>
</body></html>"""
    return html.encode(), b"text/html; charset=utf-8"
