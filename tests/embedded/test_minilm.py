"""The numpy MiniLM embedder against vectors computed once with sentence-transformers + torch."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from adaptive_gateway.embedded import INSTALL_HINT

try:
    import numpy as np

    from adaptive_gateway.embedded.minilm import MiniLMEmbedder, _batches, gelu
except ImportError as exc:  # fail with the fix, never skip
    raise ImportError(f"{exc}: {INSTALL_HINT}") from exc

from .helpers import require_installed

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"
# First dims of "hello world" from all-MiniLM-L6-v2 (sentence-transformers), kept inline as a spot check.
HELLO_WORLD_HEAD = [-0.0344772, 0.0310232, 0.006735, 0.026109, -0.039362, -0.1603025, 0.066924, -0.0064415]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    require_installed()
    return MiniLMEmbedder().load()


@pytest.fixture(scope="module")
def reference() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(REFERENCE.read_text())["cases"]
    return cases


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))  # unit vectors


def test_matches_sentence_transformers(embedder: MiniLMEmbedder, reference: list[dict[str, Any]]) -> None:
    vectors = embedder.embed_array([case["text"] for case in reference])
    expected = np.array([case["vector"] for case in reference], dtype=np.float32)
    assert np.abs(vectors - expected).max() < 1e-5  # measured ~2e-7


def test_hello_world_spot_check(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed(["hello world"])[0][:8] == pytest.approx(HELLO_WORLD_HEAD, abs=1e-5)


def test_shape_and_unit_norm(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["one", "two words", "a somewhat longer third sentence"])
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-5 for v in vectors)
    assert embedder.embed([]) == []


def test_deterministic_and_independent_of_batching(embedder: MiniLMEmbedder) -> None:
    texts = ["short", "a much longer sentence that forces padding of the short one", "mid length text"]
    batched = embedder.embed_array(texts)
    assert np.array_equal(batched, embedder.embed_array(texts))
    single = np.stack([embedder.embed_array([t])[0] for t in texts])
    assert np.abs(batched - single).max() < 1e-6


def test_paraphrase_is_closer_than_unrelated(embedder: MiniLMEmbedder) -> None:
    cat, kitten, tax = embedder.embed(
        [
            "The cat sits on the mat.",
            "A kitten is resting on a rug.",
            "Quarterly tax filings are due in April.",
        ]
    )
    assert cosine(cat, kitten) > cosine(cat, tax) + 0.3


def test_long_input_is_truncated_at_256_tokens(embedder: MiniLMEmbedder) -> None:
    assert embedder.count_tokens(["word " * 1000]) == 256
    assert embedder.count_tokens(["hello world"]) == 4  # [CLS] hello world [SEP]


def test_gelu_is_exact_to_float32() -> None:
    x = np.linspace(-8, 8, 20001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert np.abs(gelu(x) - exact).max() < 5e-7


def test_batches_group_similar_lengths() -> None:
    lengths = [10, 256, 12, 11, 9, 250]
    batches = _batches([[0] * n for n in lengths], size=32)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert [sorted(lengths[i] for i in batch) for batch in batches] == [[9, 10, 11, 12], [250, 256]]
    assert [len(b) for b in _batches([[0] * 5] * 70, size=32)] == [32, 32, 6]
