"""Helpers shared by the ingestion tests: run the pipeline on paths, and check what the index holds."""

from __future__ import annotations

import json
from pathlib import Path

from rag.ingest.pipeline import IngestReport, ingest, keeps_sentence_vectors, sentence_units
from rag.store import SENTENCE_VECTORS, unpack_vectors


def ingest_paths(ctx, *paths, **kw) -> IngestReport:
    return ingest([Path(p) for p in paths], ctx.settings, ctx.store, ctx.embedder, **kw)


def assert_consistent(ctx, allow_uncommitted: bool = False) -> dict[str, tuple[str, list[str]]]:
    """Each file has at most one document, and each committed document has exactly its chunks 0..n-1 of
    its committed version (no half documents). Chunks of no committed version are what an interrupted run
    leaves for the next one to delete; searches ignore them, and only `allow_uncommitted` accepts them.

    Each committed chunk carries one vector per sentence unit when the settings keep sentence vectors, and none
    otherwise.

    Returns file name -> (content hash, chunk texts in order), equal for indexes that hold the same data.
    """
    sentences = keeps_sentence_vectors(ctx.settings)
    docs = ctx.store.documents()
    assert len({r.path for r in docs.values()}) == len(docs), "two documents for one file"
    got = ctx.store.chunks.get(include=["metadatas", "documents"])
    chunks: dict[str, dict[int, str]] = {}
    uncommitted = 0
    for meta, text in zip(got["metadatas"], got["documents"]):
        record = docs.get(meta["doc_id"])
        if record is None or record.content_hash != meta["content_hash"]:
            uncommitted += 1
            continue
        chunks.setdefault(meta["doc_id"], {})[int(meta["chunk_index"])] = text
        if sentences:
            rows = unpack_vectors(meta[SENTENCE_VECTORS], ctx.store.dim)
            units = sentence_units(text, int(meta["start"]), json.loads(meta["sentences"]))
            assert len(rows) == len(units), f"{meta['doc_id']}: sentence vectors do not match its sentences"
        else:
            assert SENTENCE_VECTORS not in meta
    assert allow_uncommitted or uncommitted == 0, f"{uncommitted} chunks of no committed version"
    for doc_id, record in docs.items():
        assert sorted(chunks.get(doc_id, {})) == list(range(record.chunks)), f"{record.path}: chunks missing"
    return {
        Path(r.path).name: (r.content_hash, [chunks[d][i] for i in range(r.chunks)]) for d, r in docs.items()
    }
