"""Retrieval: embed the question, ask Chroma for the nearest committed chunks, with user filters."""

from __future__ import annotations

from dataclasses import dataclass

from rag.embeddings import Embedder
from rag.store import Hit, VectorStore, date_key


@dataclass
class Filters:
    """What a user can restrict a search to; empty fields mean no restriction."""

    languages: list[str] | None = None
    doc_ids: list[str] | None = None
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive

    def where(self) -> dict | None:
        """The Chroma `where` clause for these filters."""
        clauses: list[dict] = []
        if self.languages:
            clauses.append({"language": {"$in": list(self.languages)}})
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": list(self.doc_ids)}})
        low, high = self._date_bounds()
        if low is not None:
            clauses.append({"date_key": {"$gte": low}})
        if high is not None:
            clauses.append({"date_key": {"$lte": high}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, doc_id: str, language: str, date: str | None) -> bool:
        """The same filters applied to one document record (what `where()` asks Chroma for chunks)."""
        low, high = self._date_bounds()
        key = date_key(date)
        return (
            (not self.doc_ids or doc_id in self.doc_ids)
            and (not self.languages or language in self.languages)
            and (low is None or key >= low)
            and (high is None or key <= high)
        )

    def _date_bounds(self) -> tuple[int | None, int | None]:
        """Inclusive date-key bounds. Any date bound excludes undated documents (key 0): a document
        with no known date cannot be said to fall in a range, whichever side of it is open."""
        if not (self.since or self.until):
            return None, None
        return (date_key(self.since) if self.since else 1), (date_key(self.until) if self.until else None)


def search(store: VectorStore, embedder: Embedder, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
    """The k chunks closest to `query` in meaning, in any language."""
    query = query.strip()
    if not query:
        return []
    vector = embedder.embed_queries([query])[0]
    return store.query(vector, k, where=(filters or Filters()).where())
