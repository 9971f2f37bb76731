"""The records that flow through the pipeline: a cleaned document and the chunks cut from it.

Offsets are character offsets into `Document.text` (the cleaned text), so a citation can point at the
exact sentence of the original-language source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class Document:
    """One cleaned article, ready to chunk."""

    doc_id: str
    path: str  # where it was read from (absolute), the key for incremental ingestion
    text: str  # cleaned text, verbatim apart from removed boilerplate
    title: str
    language: str  # ISO 639-1 code, "und" when undetermined
    source: str | None = None  # outlet / publication
    date: str | None = None  # ISO 8601 date when known
    content_hash: str = ""  # sha256 of the raw file bytes
    extra: dict[str, str] = field(default_factory=dict)
    planted_instructions: int = 0  # sentences addressed to an AI model (prompt injection), see rag/injection.py


@dataclass
class Chunk:
    """A passage of a document with the offsets of its sentences."""

    doc_id: str
    index: int
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int]]  # (start, end) offsets into Document.text
    language: str
    token_count: int

    def chunk_id(self, content_hash: str) -> str:
        """Ids carry the content hash so a new version never overwrites the committed one in place."""
        return f"{self.doc_id}:{content_hash[:12]}:{self.index}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
