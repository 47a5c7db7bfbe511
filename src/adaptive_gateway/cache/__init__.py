"""Response caching: exact (a hash of the canonical request, per tenant) in process and optionally in
Redis, and semantic (paraphrases of the last user message, by MiniLM embeddings) in process.

Modules: ``keys`` (cache keys and scopes), ``policy`` (what may be cached, request headers), ``entry``
(stored answers), ``local`` / ``shared`` / ``semantic`` (the tiers), ``replay`` (answers as streams and
back), ``service`` (the lookup stage and the store finisher). Installed by ``server/cache_ext.py``;
documented in docs/cache.md. Nothing is imported here, so the light modules stay light.
"""
