"""Retrieval: embed the question, ask Chroma for the nearest committed chunks, with user filters."""

from __future__ import annotations

from dataclasses import dataclass

from rag.embeddings import Embedder
from rag.store import Hit, VectorStore, _date_key


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
        if self.since:
            clauses.append({"date_key": {"$gte": _date_key(self.since)}})
        if self.until:
            clauses.append({"date_key": {"$lte": _date_key(self.until)}})
        if self.since and not self.until:
            clauses.append({"date_key": {"$gt": 0}})  # undated documents cannot satisfy a date range
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def search(store: VectorStore, embedder: Embedder, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
    """The k chunks closest to `query` in meaning, in any language."""
    query = query.strip()
    if not query:
        return []
    vector = embedder.embed_queries([query])[0]
    return store.query(vector, k, where=(filters or Filters()).where())
