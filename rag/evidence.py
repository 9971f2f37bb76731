"""Evidence selection: from retrieved chunks, the few sentences a small model should see, numbered.

A weak local model reads ~40 prompt tokens/s, so the prompt carries sentences, not chunks: the ones
closest to the question in meaning (any language), plus their neighbours for context, within a token
budget. Each sentence keeps its exact offsets so a citation `[n]` points at it in the original text.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.embeddings import Embedder
from rag.injection import looks_like_instruction
from rag.store import Hit
from rag.tokens import count_tokens


@dataclass
class Evidence:
    """One numbered source sentence, with what the UI and the evals need to show and check it."""

    n: int
    text: str
    doc_id: str
    chunk_id: str
    title: str
    source: str | None
    date: str | None
    language: str
    path: str
    start: int  # offsets of the sentence in the document's cleaned text
    end: int
    passage: str  # the chunk the sentence came from, for display with the sentence highlighted
    passage_start: int
    score: float  # relevance to the question
    vector: np.ndarray = field(repr=False, compare=False, default=None)

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data.pop("vector")
        return data


class VectorCache:
    """Sentence vectors by text, so repeated questions over the same articles do not re-embed them.

    An in-memory LRU, backed (when `path` is given) by a small SQLite file so that separate CLI runs
    share the work. It only caches what the embedder would compute again; Chroma stays the store.
    """

    def __init__(self, embedder: Embedder, path: Path | None = None, size: int = 20000) -> None:
        self.embedder = embedder
        self._size = size
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._db = _open_cache(path) if path else None

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.embedder.name}\0{text}".encode()).hexdigest()

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        missing = [t for t in dict.fromkeys(texts) if t not in self._memory]
        if missing and self._db is not None:
            missing = self._load(missing)
        if missing:
            rows = self.embedder.embed_passages(missing)
            for text, row in zip(missing, rows):
                self._memory[text] = row
            self._save(missing, rows)
        for text in texts:
            self._memory.move_to_end(text)
        while len(self._memory) > self._size:
            self._memory.popitem(last=False)
        return np.vstack([self._memory[t] for t in texts])

    def query(self, text: str) -> np.ndarray:
        return self.embedder.embed_queries([text])[0]

    def _load(self, texts: list[str]) -> list[str]:
        """Fill memory from the file; returns the texts still missing."""
        keys = {self._key(t): t for t in texts}
        marks = ",".join("?" * len(keys))
        for key, blob in self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", list(keys)):
            row = np.frombuffer(blob, dtype=np.float32)
            if row.shape[0] == self.embedder.dim:
                self._memory[keys[key]] = row
        return [t for t in texts if t not in self._memory]

    def _save(self, texts: list[str], rows: np.ndarray) -> None:
        if self._db is None:
            return
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)",
                    [(self._key(t), np.asarray(r, dtype=np.float32).tobytes()) for t, r in zip(texts, rows)],
                )
        except sqlite3.Error:  # a busy or read-only cache only costs speed
            pass


def _open_cache(path: Path) -> sqlite3.Connection | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=5, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        return db
    except (sqlite3.Error, OSError):
        return None


_CLOSERS = "\"'”“’»›)\\]」』"  # what may follow the final mark: closing quotes and brackets
_STATEMENT_END = re.compile(f"[.!…。！][{_CLOSERS}]*$")
_QUESTION_END = re.compile(f"[?？؟\u037e][{_CLOSERS}]*$")


def is_statement(text: str) -> bool:
    """True for a sentence ending like reported prose: what a summary should be made of (headlines and
    captions say little, questions say nothing)."""
    return bool(_STATEMENT_END.search(text.rstrip()))


def is_question(text: str) -> bool:
    """Questions state no fact, so a quote-only answer never shows one (planted fake chat turns often are)."""
    return bool(_QUESTION_END.search(text.rstrip()))


@dataclass
class _Candidate:
    hit: Hit
    start: int
    end: int
    text: str
    score: float = 0.0
    vector: np.ndarray | None = None


def _candidates(hits: Sequence[Hit]) -> list[_Candidate]:
    seen: set[tuple[str, int]] = set()
    found = []
    for hit in hits:
        for (start, end), text in zip(hit.sentences, hit.sentence_texts()):
            letters = sum(ch.isalpha() for ch in text)
            if (hit.doc_id, start) not in seen and letters >= 3 and not looks_like_instruction(text):
                seen.add((hit.doc_id, start))
                found.append(_Candidate(hit, start, end, text))
    return found


def select_evidence(
    question_vector: np.ndarray,
    hits: Sequence[Hit],
    cache: VectorCache,
    *,
    max_tokens: int = 260,
    max_sentences: int = 8,
    chunk_weight: float = 0.3,
    doc_margin: float = 0.04,
    max_documents: int = 3,
) -> list[Evidence]:
    """Best sentences for the question plus their neighbours, grouped by document and numbered."""
    candidates = _candidates(hits)
    if not candidates:
        return []
    vectors = cache.passages([c.text for c in candidates])
    similarity = vectors @ question_vector
    for cand, vec, sim in zip(candidates, vectors, similarity):
        cand.vector = vec
        cand.score = (1 - chunk_weight) * float(sim) + chunk_weight * cand.hit.score
    ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
    by_doc: dict[str, list[_Candidate]] = {}
    for cand in candidates:
        by_doc.setdefault(cand.hit.doc_id, []).append(cand)
    for group in by_doc.values():
        group.sort(key=lambda c: c.start)

    chosen: dict[tuple[str, int], _Candidate] = {}
    budget = max_tokens

    def take(cand: _Candidate, force: bool = False) -> bool:
        nonlocal budget
        key = (cand.hit.doc_id, cand.start)
        if key in chosen:
            return True
        cost = count_tokens(cand.text)
        if not force and (cost > budget or len(chosen) >= max_sentences):
            return False
        chosen[key] = cand
        budget -= cost
        return True

    # Each competitive document's best sentence gets in even past the budget: one long Arabic sentence
    # can cost 200 cl100k tokens, and losing a whole source is worse than a slightly longer prompt.
    placed = [cand for cand in _document_leaders(ranked, doc_margin)[:max_documents] if take(cand, force=True)]
    for cand in placed[:2]:  # the best sentences get their neighbours: pronouns and dates often sit next door
        group = by_doc[cand.hit.doc_id]
        i = group.index(cand)
        for neighbour in group[max(0, i - 1) : i] + group[i + 1 : i + 2]:
            take(neighbour)
    for cand in ranked:
        take(cand)  # a sentence too long for what is left is skipped; a shorter one may still fit
    return _numbered(chosen.values())


def _document_leaders(ranked: list[_Candidate], margin: float) -> list[_Candidate]:
    """The best sentence of every competitive document, best first.

    Cross-source questions need each article that covers the topic; without this one verbose article
    fills the whole budget. A document competes when its best sentence is within `margin` of the top.
    """
    leaders: dict[str, _Candidate] = {}
    for cand in ranked:
        if cand.hit.doc_id not in leaders and cand.score >= ranked[0].score - margin:
            leaders[cand.hit.doc_id] = cand
    return list(leaders.values())


def _numbered(chosen) -> list[Evidence]:
    """Group by document (best document first), reading order inside a document, numbers 1..n."""
    docs: dict[str, list[_Candidate]] = {}
    for cand in chosen:
        docs.setdefault(cand.hit.doc_id, []).append(cand)
    ordered = sorted(docs.values(), key=lambda group: -max(c.score for c in group))
    evidence = []
    for group in ordered:
        for cand in sorted(group, key=lambda c: c.start):
            hit = cand.hit
            evidence.append(
                Evidence(
                    n=len(evidence) + 1, text=cand.text, doc_id=hit.doc_id, chunk_id=hit.chunk_id, title=hit.title,
                    source=hit.source, date=hit.date, language=hit.language, path=hit.path, start=cand.start,
                    end=cand.end, passage=hit.text, passage_start=hit.start, score=cand.score, vector=cand.vector,
                )
            )
    return evidence
