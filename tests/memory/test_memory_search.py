from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from adaptive_gateway.memory import InvalidItem, ItemType, MemoryItem, MemorySearch, MemoryStore

# Words of one concept share a dimension, so "automobile" is close to "car" with no word in common.
_CONCEPTS = {
    "car": 0,
    "cars": 0,
    "automobile": 0,
    "vehicle": 0,
    "cache": 1,
    "redis": 1,
    "memcached": 1,
    "budget": 2,
    "cost": 2,
    "spend": 2,
}


class ConceptEmbedder:
    """Deterministic test embedder: one dimension per concept plus one for everything else."""

    name = "concept-test-embedder"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        vectors = []
        for text in texts:
            vector = [0.0] * 4
            for word in re.findall(r"\w+", text.lower()):
                concept = _CONCEPTS.get(word)
                if concept is None:
                    vector[3] += 0.1
                else:
                    vector[concept] += 1.0
            vectors.append(vector)
        return vectors


@pytest.fixture
def seeded(store: MemoryStore) -> MemoryStore:
    store.record_decision(
        "Use Redis for breakers", "Circuit breakers keep their state in Redis.", ["replicas"]
    )
    store.write(
        MemoryItem.new("note", "Deploy notes", "We mention redis once, in passing, among other words.")
    )
    store.write(MemoryItem.new("note", "Budget alarms", "Spend limits per key.", namespace="billing"))
    store.write(
        MemoryItem.new(
            "note", "Redis password rotation", "Rotate the redis password.", trust_level="confidential"
        )
    )
    store.record_task("Benchmark redis breakers", namespace="billing")
    return store


def _titles(hits: Sequence[object]) -> list[str]:
    return [getattr(hit, "title") for hit in hits]  # noqa: B009


def test_bm25_ranks_title_matches_first(seeded: MemoryStore) -> None:
    hits = MemorySearch(seeded).search("redis")
    assert len(hits) == 4
    assert _titles(hits)[-1] == "Deploy notes"  # the only one with "redis" in the body alone
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert hits[-1].score > 0
    assert "[redis]" in hits[0].snippet.lower()
    both = MemorySearch(seeded).search("redis breakers")
    assert set(_titles(both)) == {"Use Redis for breakers", "Benchmark redis breakers"}


def test_filters_namespace_type_and_trust(seeded: MemoryStore) -> None:
    search = MemorySearch(seeded)
    assert _titles(search.search("redis", namespace="billing")) == ["Benchmark redis breakers"]
    assert _titles(search.search("redis", type="decision")) == ["Use Redis for breakers"]
    everything = _titles(search.search("redis"))
    assert "Redis password rotation" in everything
    public_or_internal = _titles(search.search("redis", max_trust="internal"))
    assert "Redis password rotation" not in public_or_internal
    assert len(public_or_internal) == len(everything) - 1
    assert search.search("redis", max_trust="public") == []


def test_falls_back_to_any_word_and_ignores_query_syntax(seeded: MemoryStore) -> None:
    search = MemorySearch(seeded)
    assert _titles(search.search("budget nonexistentword")) == ["Budget alarms"]
    assert search.search('"unbalanced AND (') == []
    assert search.search("   ") == []
    with pytest.raises(InvalidItem):
        search.search("redis", limit=0)


def test_index_follows_writes_and_external_commits(seeded: MemoryStore, git) -> None:
    search = MemorySearch(seeded)
    assert search.search("kubernetes") == []
    seeded.write(MemoryItem.new("note", "Kubernetes rollout", "helm chart"))
    assert _titles(search.search("kubernetes")) == ["Kubernetes rollout"]

    # A person edits and deletes files with plain git.
    [decision] = seeded.list(type=ItemType.DECISION)
    path = seeded.root / decision.relpath
    path.write_text(path.read_text().replace("Circuit breakers", "Kubernetes breakers"))
    (seeded.root / seeded.list(namespace="billing", type="note")[0].relpath).unlink()
    git(seeded.root, "commit", "-qam", "hand edit")
    assert _titles(search.search("kubernetes")) == ["Kubernetes rollout", "Use Redis for breakers"]
    assert search.search("budget") == []


def test_reindex_rebuilds_after_index_loss(seeded: MemoryStore) -> None:
    search = MemorySearch(seeded)
    search.search("redis")
    search.index_path.unlink()
    assert search.reindex() == 5
    assert _titles(search.search("alarms")) == ["Budget alarms"]


def test_uncommitted_external_edit_needs_reindex(seeded: MemoryStore) -> None:
    search = MemorySearch(seeded)
    search.search("redis")
    note = seeded.root / seeded.list(namespace="billing", type="note")[0].relpath
    note.write_text(note.read_text().replace("Spend limits", "Quota limits"))
    assert search.search("quota") == []  # HEAD did not move
    search.reindex()
    assert _titles(search.search("quota")) == ["Budget alarms"]


def test_embedder_finds_related_items_without_shared_words(store: MemoryStore) -> None:
    store.write(MemoryItem.new("note", "Fleet", "Every car gets a yearly check."))
    store.write(MemoryItem.new("note", "Caching", "Memcached in front of the API."))
    embedder = ConceptEmbedder()
    search = MemorySearch(store, embedder)
    plain = MemorySearch(store)
    assert plain.search("automobile") == []
    hits = search.search("automobile")
    assert _titles(hits) == ["Fleet"]
    assert hits[0].text_score == 0.0
    assert hits[0].vector_score is not None and hits[0].vector_score > 0.3


def test_embedder_blends_scores_and_embeds_only_new_items(store: MemoryStore) -> None:
    store.write(MemoryItem.new("note", "Vehicle cache", "cache for car lookups"))
    store.write(MemoryItem.new("note", "Cache sizing", "redis memory sizing, memcached too"))
    embedder = ConceptEmbedder()
    search = MemorySearch(store, embedder, text_weight=0.5)
    hits = search.search("cache")
    assert set(_titles(hits)) == {"Vehicle cache", "Cache sizing"}
    for hit in hits:
        assert hit.vector_score is not None
        expected = 0.5 * hit.text_score + 0.5 * max(hit.vector_score, 0.0)
        assert hit.score == pytest.approx(expected)
    assert embedder.calls == [2, 1]  # the two items, then the query
    store.write(MemoryItem.new("note", "Spend", "budget"))
    search.search("budget")
    assert embedder.calls == [2, 1, 1, 1]  # only the new item was embedded


def test_changing_embedder_reembeds(store: MemoryStore) -> None:
    store.write(MemoryItem.new("note", "Fleet", "car"))
    first = ConceptEmbedder()
    MemorySearch(store, first).search("car")
    second = ConceptEmbedder()
    second.name = "another-model"  # type: ignore[misc]
    MemorySearch(store, second).search("car")
    assert second.calls == [1, 1]
