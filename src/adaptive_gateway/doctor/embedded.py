"""The built-in local model: its packages installed, its model file present, for each ``kind: embedded``
provider (and the MiniLM embedder when ``local/minilm-l6`` is routed)."""

from __future__ import annotations

from pathlib import Path

from adaptive_gateway.config import Provider

from .model import DoctorContext, Finding

EMBEDDINGS_MODEL = "local/minilm-l6"


def _provider_finding(p: Provider, runtime_missing: list[str], bundled: Path | None, hint: str) -> Finding:
    check = f"embedded:{p.name}"
    if runtime_missing:
        return Finding(
            check,
            "fail",
            f"packages of the built-in runtime are missing: {', '.join(runtime_missing)}",
            f"requests routed to {p.name} fail",
            hint,
        )
    if p.model_path:
        if not Path(p.model_path).expanduser().is_file():
            return Finding(
                check,
                "fail",
                f"model file {p.model_path} does not exist",
                f"requests routed to {p.name} fail",
                f"fix providers.{p.name}.model_path (a .gguf file)",
            )
        return Finding(check, "ok", f"{p.name}: runtime installed, model {p.model_path}")
    if bundled is None:
        return Finding(
            check,
            "fail",
            "the bundled model (SmolLM2-135M) is not installed",
            f"requests to {p.name} fail",
            hint,
        )
    size = bundled.stat().st_size / 1024**2
    return Finding(check, "ok", f"{p.name}: runtime installed, bundled model {bundled.name} ({size:.0f} MiB)")


async def check_embedded(ctx: DoctorContext) -> list[Finding]:
    try:
        from adaptive_gateway.embedded import INSTALL_HINT, availability, bundled_model
    except ImportError as exc:
        return [Finding("embedded", "skip", f"not available in this build ({exc.name})")]
    if ctx.compiled is None and ctx.text is not None:
        return [Finding("embedded", "skip", "config not valid")]
    avail = availability()
    bundled = bundled_model()
    hint = avail.hint or INSTALL_HINT
    compiled = ctx.compiled
    providers = [p for p in compiled.providers.values() if p.adapter == "embedded"] if compiled else []
    if not providers:
        ready = not avail.runtime_missing and bundled is not None
        summary = "not configured" + (" (installed: `init` can add local/smollm2-135m)" if ready else "")
        return [Finding("embedded", "skip", summary)]
    path = bundled.path if bundled else None
    findings = [_provider_finding(p, avail.runtime_missing, path, hint) for p in providers]
    routed = compiled is not None and any(
        d.upstream_model == EMBEDDINGS_MODEL for m in compiled.models.values() for d in m.deployments
    )
    if routed and avail.embedder_missing:
        findings.append(
            Finding(
                "embedded:embeddings",
                "fail",
                f"{EMBEDDINGS_MODEL} is configured but its packages are missing: "
                f"{', '.join(avail.embedder_missing)}",
                "embedding requests for it fail",
                hint,
            )
        )
    return findings
