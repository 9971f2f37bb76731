"""The components a session needs, built lazily from one Settings object.

The CLI, the web UI and the evals all go through this, so a component is configured in one place.
"""

from __future__ import annotations

from functools import cached_property

from rag.config import Settings, load_settings
from rag.embeddings import Embedder, make_embedder
from rag.store import VectorStore, open_store


class RagContext:
    """Settings plus the embedder and store they select, each created on first use."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or load_settings()
        if embedder is not None:  # share one loaded model between contexts (tests, benchmarks)
            self.__dict__["embedder"] = embedder

    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings)

    @cached_property
    def store(self) -> VectorStore:
        return open_store(self.settings, self.embedder.name, self.embedder.dim)
