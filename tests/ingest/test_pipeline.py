"""Ingestion end to end with the real embedder and a real embedded Chroma."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag import fusion
from rag.config import Settings
from rag.context import RagContext
from rag.ingest.pipeline import sentence_units
from rag.retrieve import Filters, search
from rag.store import SENTENCE_VECTORS, unpack_vectors
from tests.ingest.index_checks import assert_consistent, ingest_paths
from tests.rag_fixtures import ARABIC, CORPUS, DEFAULT_EMBEDDER, FRENCH, GERMAN, make_context, shared_embedder


def test_seed_corpus_is_searchable_across_languages(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    report = ingest_paths(ctx, corpus_copy)
    assert report.count("added") == 3 and report.count("failed") == 0
    records = {Path(r.path).stem: r for r in ctx.store.documents().values()}
    assert {r.language for r in records.values()} == {"fr", "ar", "de"}
    assert records[ARABIC].date == "2023-09-21"
    assert records[ARABIC].title.startswith("ايران وروسيا")

    cases = {
        "How many people died in the bombing in Kerman?": FRENCH,
        "Who invited the Russian defence minister to Iran?": ARABIC,
        "What did Mossad chief David Barnea warn about?": GERMAN,
    }
    for question, stem in cases.items():
        hits = search(ctx.store, ctx.embedder, question, k=3)
        assert stem in [Path(h.path).stem for h in hits], question
    assert_consistent(ctx)


def test_hits_point_at_exact_sentences_and_keep_arabic_intact(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    ingest_paths(ctx, corpus_copy)
    hits = search(ctx.store, ctx.embedder, "شويغو باقري طهران", k=5, filters=Filters(languages=["ar"]))
    assert hits and all(h.language == "ar" for h in hits)
    raw = (CORPUS / f"{ARABIC}.txt").read_text(encoding="utf-8")
    for hit in hits:
        for sentence in hit.sentence_texts():
            assert sentence and sentence in raw  # verbatim, Arabic untouched
        full_text = ctx.store.document(hit.doc_id).text
        assert full_text[hit.start : hit.end] == hit.text


def test_reingest_is_a_noop_and_edits_replace_chunks(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    ingest_paths(ctx, corpus_copy)
    before = assert_consistent(ctx)
    chunk_ids = set(ctx.store.chunks.get()["ids"])

    again = ingest_paths(ctx, corpus_copy)
    assert again.count("unchanged") == 3 and again.chunks_written == 0
    assert set(ctx.store.chunks.get()["ids"]) == chunk_ids

    german = corpus_copy / f"{GERMAN}.txt"
    german.write_text(german.read_text(encoding="utf-8") + "\nDie Delegation reiste am Donnerstag nach Moskau zurück.\n", encoding="utf-8")
    edited = ingest_paths(ctx, corpus_copy)
    assert edited.count("updated") == 1 and edited.count("unchanged") == 2
    after = assert_consistent(ctx)
    assert after[f"{FRENCH}.txt"] == before[f"{FRENCH}.txt"]
    hits = search(ctx.store, ctx.embedder, "Delegation reiste nach Moskau zurück", k=1)
    assert "Donnerstag" in hits[0].text


def test_prune_removes_documents_whose_files_vanished(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    ingest_paths(ctx, corpus_copy)
    (corpus_copy / f"{FRENCH}.txt").unlink()
    kept = ingest_paths(ctx, corpus_copy)
    assert kept.count("removed") == 0 and len(ctx.store.documents()) == 3
    pruned = ingest_paths(ctx, corpus_copy, prune=True)
    assert pruned.count("removed") == 1
    assert len(ctx.store.documents()) == 2
    assert_consistent(ctx)


def test_language_filter_and_date_range(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    ingest_paths(ctx, corpus_copy)
    german_only = search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(languages=["de"]))
    assert german_only and {h.language for h in german_only} == {"de"}
    dated = search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(since="2023-09-01", until="2023-09-30"))
    assert dated and {Path(h.path).stem for h in dated} == {ARABIC}
    assert search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(since="2030-01-01")) == []
    until = search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(until="2023-12-31"))
    assert until and {Path(h.path).stem for h in until} == {ARABIC}  # undated articles are outside any range


def test_other_embedder_on_existing_collection_is_a_clear_error(tmp_path, corpus_copy):
    from rag.store import StoreError

    data = tmp_path / "data"
    ingest_paths(make_context(data, embedder="use"), corpus_copy)
    ctx = make_context(data, embedder="e5-small")
    try:
        ctx.store
    except StoreError as exc:
        message = str(exc)
    else:
        raise AssertionError("opening a 'use' collection with e5-small must fail")
    assert "'use'" in message and "e5-small" in message and "--reindex" in message


def test_client_server_mode_against_chroma_run(tmp_path, corpus_copy, chroma_server):
    ctx = make_context(tmp_path / "data", chroma={"host": chroma_server.host, "port": chroma_server.port})
    report = ingest_paths(ctx, corpus_copy)
    assert report.count("added") == 3
    assert not (tmp_path / "data" / "chroma").exists()  # nothing written to the embedded store
    hits = search(ctx.store, ctx.embedder, "How many people died in the bombing in Kerman?", k=3)
    assert FRENCH in [Path(h.path).stem for h in hits]
    assert ingest_paths(ctx, corpus_copy).count("unchanged") == 3
    assert_consistent(ctx)


def test_chunks_keep_their_sentences_vectors_and_turning_them_off_re_embeds(tmp_path, corpus_copy):
    """With the default e5 embedder every chunk carries one vector per sentence unit (its sentences, long
    ones cut into clauses), the unit's own passage vector (kept in half precision), so the Arabic article's
    chunks of one long sentence have several too; with `sentence_vectors` off the next ingestion re-embeds
    every document and none keeps them."""
    ctx = make_context(tmp_path / "data")
    ingest_paths(ctx, corpus_copy)
    assert_consistent(ctx)
    got = ctx.store.chunks.get(include=["metadatas", "documents"], limit=8)
    several = 0
    for meta, text in zip(got["metadatas"], got["documents"]):
        units = sentence_units(text, int(meta["start"]), json.loads(meta["sentences"]))
        stored = unpack_vectors(meta[SENTENCE_VECTORS], ctx.store.dim)
        np.testing.assert_allclose(stored, ctx.embedder.embed_passages(units), atol=2e-3)
        several += len(units) > 1
    assert several >= 4  # not only one-unit chunks, which reuse the chunk's vector
    arabic = ctx.store.chunks.get(where={"language": "ar"}, include=["metadatas"])["metadatas"]
    long_ones = [m for m in arabic if len(json.loads(m["sentences"])) == 1 and m["token_count"] > 2 * fusion.SENTENCE_TOKENS]
    assert long_ones and all(len(unpack_vectors(m[SENTENCE_VECTORS], ctx.store.dim)) >= 2 for m in long_ones)

    off = RagContext(Settings(data_dir=tmp_path / "data", embedder={"name": DEFAULT_EMBEDDER, "sentence_vectors": False}),
                     embedder=shared_embedder(DEFAULT_EMBEDDER))
    report = ingest_paths(off, corpus_copy)
    assert report.count("updated") == 3
    assert_consistent(off)  # and no chunk keeps sentence vectors
    assert search(off.store, off.embedder, "What did Mossad chief David Barnea warn about?", k=3)
