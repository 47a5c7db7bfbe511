"""Git-backed shared memory: items, search, sync and the handoff protocol.

The MCP server and the CLI are thin layers over these classes::

    store = MemoryStore(root, author="codex")
    search = MemorySearch(store)            # optional: MemorySearch(store, embedder)
    sync = MemorySync(store)                # optional: MemorySync(store, scanner)
    handoffs = HandoffBook(store)
"""

from adaptive_gateway.memory.errors import (
    GitError,
    HandoffError,
    InvalidItem,
    ItemNotFound,
    MemoryStoreError,
    PushProblem,
    PushRefused,
    SyncError,
)
from adaptive_gateway.memory.handoff import Decision, Handoff, HandoffBook, HandoffStatus
from adaptive_gateway.memory.models import DEFAULT_NAMESPACE, ItemType, MemoryItem, TrustLevel
from adaptive_gateway.memory.search import Embedder, MemorySearch, SearchHit
from adaptive_gateway.memory.secrets import DetectSecretsScanner, SecretScanner, default_scanner
from adaptive_gateway.memory.sessions import SessionEntry
from adaptive_gateway.memory.store import MemoryStore, TaskStatus, default_root
from adaptive_gateway.memory.sync import MemorySync, PullResult, PushResult, RemoteInfo, clone_memory

__all__ = [
    "DEFAULT_NAMESPACE",
    "Decision",
    "DetectSecretsScanner",
    "Embedder",
    "GitError",
    "Handoff",
    "HandoffBook",
    "HandoffError",
    "HandoffStatus",
    "InvalidItem",
    "ItemNotFound",
    "ItemType",
    "MemoryItem",
    "MemorySearch",
    "MemoryStore",
    "MemoryStoreError",
    "MemorySync",
    "PullResult",
    "PushProblem",
    "PushRefused",
    "PushResult",
    "RemoteInfo",
    "SearchHit",
    "SecretScanner",
    "SessionEntry",
    "SyncError",
    "TaskStatus",
    "TrustLevel",
    "clone_memory",
    "default_root",
    "default_scanner",
]
