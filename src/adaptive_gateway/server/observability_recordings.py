"""HTTP routes of recorded prompts and answers (``observability.recording``), served like receipts:

* ``GET /api/recordings?key=&model=&tenant=&from=&to=&limit=50``: newest first, without the text (a
  short ``preview`` of the last message instead). ``key``: a key id or its public prefix; ``from`` /
  ``to``: ISO 8601 (UTC when no offset is given), ``to`` exclusive.
* ``GET /api/recordings/{request_id}``: one recording with its messages and answer (the newest one, if
  a client reused the request id); 404 when unknown or not the caller's.

Admins (the master key, virtual keys with the admin role) see every recording, ``tenant-admin`` keys
their tenant's, other keys only their own. Both answer 404 while recording is off.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from adaptive_gateway.errors import GatewayError, InvalidRequest, NotFound
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.observability_api import NO_STORE, is_admin
from adaptive_gateway.server.observability_recorder import Recorder
from adaptive_gateway.server.proxy import new_context, send_error
from adaptive_gateway.store.recordings import get_recording, list_recordings

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

MAX_LIMIT = 1000
ROUTE = "/api/recordings"


def scope(p: Principal | None) -> dict[str, Any]:
    """The filters that limit a caller to what it may read."""
    if is_admin(p):
        return {}
    assert p is not None  # authenticated
    if "tenant-admin" in p.roles and p.tenant:
        return {"tenant": p.tenant}
    return {"key_id": p.id}


def _time(query: dict[str, str], name: str) -> dt.datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        t = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            f"{name}: an ISO 8601 date or time, e.g. 2026-01-31T12:00:00Z", param=name
        ) from None
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def filters_of(query: dict[str, str]) -> tuple[dict[str, Any], int]:
    raw = query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit: a number from 1 to {MAX_LIMIT}", param="limit")
    filters: dict[str, Any] = {name: query[name] for name in ("key", "model", "tenant") if query.get(name)}
    filters["from"], filters["to"] = _time(query, "from"), _time(query, "to")
    return filters, int(raw)


class RecordingRoutes:
    def __init__(self, gw: Gateway, recorder: Recorder | None) -> None:
        self.gw = gw
        self.recorder = recorder

    @staticmethod
    def _unavailable(exc: Exception) -> GatewayError:
        return GatewayError(f"the store did not answer: {type(exc).__name__}", status=503)

    def _recorder(self) -> Recorder:
        rec = self.recorder
        if rec is None or rec.writer is None:
            raise NotFound("recording is off (observability.recording.enabled)")
        return rec

    async def list(self, http: Http) -> None:
        ctx = new_context(self.gw, http, ROUTE)
        try:
            self.gw.authenticate(ctx)
            filters, limit = filters_of(http.query)
            rec = self._recorder()
            assert rec.writer is not None
            await rec.writer.flush()  # include what was just answered
            try:
                async with rec.writer.store.engine.connect() as conn:
                    data = await list_recordings(conn, filters | scope(ctx.principal), limit)
            except SQLAlchemyError as exc:
                raise self._unavailable(exc) from None
            body = orjson.dumps({"object": "list", "data": data})
            await http.respond(200, body, [(b"x-request-id", ctx.request_id.encode()), NO_STORE])
        except GatewayError as err:
            await send_error(http, ctx, err, None)

    async def get(self, http: Http, request_id: str) -> None:
        ctx = new_context(self.gw, http, ROUTE + "/")
        try:
            self.gw.authenticate(ctx)
            rec = self._recorder()
            assert rec.writer is not None
            await rec.writer.flush()
            try:
                async with rec.writer.store.engine.connect() as conn:
                    found = await get_recording(conn, request_id, scope(ctx.principal))
            except SQLAlchemyError as exc:
                raise self._unavailable(exc) from None
            if found is None:
                raise NotFound(f"no recording of request '{request_id}'")
            await http.respond(
                200, orjson.dumps(found), [(b"x-request-id", ctx.request_id.encode()), NO_STORE]
            )
        except GatewayError as err:
            await send_error(http, ctx, err, None)


def install_recording_routes(app: GatewayApp, recorder: Recorder | None) -> None:
    routes = RecordingRoutes(app.gateway, recorder)
    app.routes[("GET", ROUTE)] = routes.list
    app.prefixes.append(("GET", ROUTE + "/", routes.get))
