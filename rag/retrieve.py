"""Retrieval: embed the question, ask Chroma for the nearest committed chunks, with user filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.embeddings import Embedder
from rag.generate import translation_messages
from rag.store import Hit, VectorStore, date_key

if TYPE_CHECKING:
    from rag.llm.client import ChatEndpoint

RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009), not tuned


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


def search(store: VectorStore, embedder: Embedder, query: str, k: int = 5, filters: Filters | None = None, *,
           question: bool = True) -> list[Hit]:
    """The k chunks closest to `query` in meaning, in any language (`question`: see VectorStore.query)."""
    query = query.strip()
    if not query:
        return []
    vector = embedder.embed_queries([query])[0]
    return store.query(vector, k, where=(filters or Filters()).where(), question=question)


@dataclass
class SetAside:
    """A retrieved document left out because it tries to instruct AI models (see rag/injection.py)."""

    doc_id: str
    title: str
    planted_instructions: int


def set_aside_note(documents: Sequence[SetAside]) -> str:
    """One line naming the documents left out, for the CLI, the UI and Markdown exports ("" when none)."""
    if not documents:
        return ""
    names = "; ".join(f"{d.title} ({d.planted_instructions} passage{'s' * (d.planted_instructions != 1)})" for d in documents)
    one = len(documents) == 1
    return (f"Set aside {len(documents)} source{'' if one else 's'} that contain{'s' if one else ''} text addressed to AI "
            f"assistants (possible manipulation): {names}. Select {'it' if one else 'them'} by document to use "
            f"{'it' if one else 'them'} anyway, or set RAG_ANSWER__USE_FLAGGED_SOURCES=true.")


def uses_flagged(use_flagged_sources: bool, filters: Filters) -> bool:
    """Whether flagged documents may be drawn on: the settings allow it, or the user picked documents by id
    (those are used as asked)."""
    return use_flagged_sources or bool(filters.doc_ids)


def set_aside_flagged(hits: Sequence[Hit], k: int) -> tuple[list[Hit], list[SetAside]]:
    """The k best hits from documents that do not try to instruct AI models, and the flagged documents that
    would have been among the k best.

    An article carrying planted instructions for the reader's assistant is a manipulation attempt; its
    other sentences are not evidence to build on, so the whole document is left out and named instead.
    Callers retrieve deeper than k so trusted hits can fill the places the flagged ones leave.
    """
    kept = [hit for hit in hits if not hit.planted_instructions][:k]
    flagged: dict[str, SetAside] = {}
    for hit in hits[:k]:
        if hit.planted_instructions:
            flagged.setdefault(hit.doc_id, SetAside(hit.doc_id, hit.title, hit.planted_instructions))
    return kept, list(flagged.values())


def translate_query(chat: "ChatEndpoint", question: str, language: str) -> str:
    """The question in another language, for matching passages written in it (RAGFlow-style multi-language
    queries); the original question when the model returns nothing usable."""
    lines = [line.strip() for line in chat.complete(translation_messages(question, language, "question"), max_tokens=80).splitlines()
             if line.strip()]
    return lines[0] if lines else question


def fuse_rankings(rankings: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion of several result lists of the same index: chunks found by several queries,
    or high in one, come first; each chunk keeps its best cosine as its score."""
    fused: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for hits in rankings:
        for rank, hit in enumerate(hits):
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            if hit.chunk_id not in best or hit.score > best[hit.chunk_id].score:
                best[hit.chunk_id] = hit
    order = sorted(fused, key=lambda chunk_id: -fused[chunk_id])
    return [best[chunk_id] for chunk_id in order[:k]]
