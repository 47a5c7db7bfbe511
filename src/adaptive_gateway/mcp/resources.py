"""Memory items as MCP resources: ``memory://<namespace>/<type>/<id>``, Markdown with front matter."""

from __future__ import annotations

import re

import mcp.types as types
from mcp.shared.exceptions import MCPError

from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.memory import ItemNotFound, ItemType, MemoryStoreError, TrustLevel
from adaptive_gateway.memory.frontmatter import read_trust_level

SCHEME = "memory"
TEMPLATE = "memory://{namespace}/{type}/{id}"
PAGE = 200
MIME = "text/markdown"
RESOURCE_NOT_FOUND = -32002  # the MCP spec's code for an unknown resource
_URI = re.compile(r"^memory://([^/]+)/([^/]+)/([^/]+)$")


def uri_of(namespace: str, kind: ItemType, item_id: str) -> str:
    return f"{SCHEME}://{namespace}/{kind.value}/{item_id}"


class MemoryResources:
    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory

    async def list_page(self, cursor: str | None) -> types.ListResourcesResult:
        """Every item, newest first, ``PAGE`` per page (the cursor is the offset)."""
        start = int(cursor) if cursor and cursor.isdigit() else 0
        store = self.memory.store
        items = await self.memory.run(store.list)
        items.reverse()
        page = items[start : start + PAGE]
        resources = [
            types.Resource(
                uri=uri_of(item.namespace, item.type, item.id),
                name=item.id,
                title=item.title,
                description=f"{item.type.value} in {item.namespace} by {item.author_agent or 'unknown'}"
                f" ({item.trust_level.value})",
                mime_type=MIME,
            )
            for item in page
        ]
        more = start + PAGE < len(items)
        return types.ListResourcesResult(resources=resources, next_cursor=str(start + PAGE) if more else None)

    def templates(self) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template=TEMPLATE,
            name="memory-item",
            title="Shared memory item",
            description="A memory item by namespace, type (decision, task, session, handoff, note) and id.",
            mime_type=MIME,
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read(self, uri: str, principal: object = None) -> types.ReadResourceResult:
        """The item's file; its trust level then counts as a context source of ``principal``'s requests
        (``trust/memory_sources.py``), as for ``memory_read``."""
        match = _URI.match(uri)
        if match is None:
            raise MCPError(types.INVALID_PARAMS, f"not a memory resource URI: {uri!r} (expected {TEMPLATE})")
        namespace, kind, item_id = match.groups()
        store = self.memory.store

        def load() -> str:
            path = store.locate(item_id, namespace)
            if ItemType.parse(kind).folder != path.parent.name:
                raise ItemNotFound(f"{item_id!r} is not a {kind}")
            return path.read_text(encoding="utf-8")

        try:
            text = await self.memory.run(load)
        except ItemNotFound as exc:
            raise MCPError(RESOURCE_NOT_FOUND, f"resource not found: {exc}", {"uri": uri}) from None
        except MemoryStoreError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc), {"uri": uri}) from None
        if principal is not None:
            level = read_trust_level(text) or TrustLevel.INTERNAL  # the memory store's default
            self.memory.handed_out(principal, [(item_id, namespace, level.value)])
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=MIME, text=text)]
        )
