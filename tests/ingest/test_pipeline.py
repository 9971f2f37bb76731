"""Ingestion end to end with the real embedder and a real embedded Chroma."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from rag.ingest.pipeline import ingest
from rag.retrieve import Filters, search
from tests.rag_fixtures import ARABIC, CORPUS, FRENCH, GERMAN, REPO, make_context


def _ingest(ctx, *paths, **kw):
    return ingest([Path(p) for p in paths], ctx.settings, ctx.store, ctx.embedder, **kw)


def _doc_of(ctx, stem: str) -> str:
    return next(r.doc_id for r in ctx.store.documents().values() if Path(r.path).stem == stem)


def _assert_consistent(ctx) -> dict[str, int]:
    """Every chunk belongs to the committed version of a document, and counts match the registry."""
    docs = ctx.store.documents()
    got = ctx.store.chunks.get(include=["metadatas"])
    per_doc: dict[str, int] = {}
    for meta in got["metadatas"]:
        assert meta["doc_id"] in docs, "chunk of an uncommitted document"
        assert docs[meta["doc_id"]].content_hash == meta["content_hash"], "chunk of a stale version"
        per_doc[meta["doc_id"]] = per_doc.get(meta["doc_id"], 0) + 1
    assert per_doc == {d: r.chunks for d, r in docs.items()}
    return {Path(r.path).name: r.chunks for r in docs.values()}


def test_seed_corpus_is_searchable_across_languages(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    report = _ingest(ctx, corpus_copy)
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
    _assert_consistent(ctx)


def test_hits_point_at_exact_sentences_and_keep_arabic_intact(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    _ingest(ctx, corpus_copy)
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
    _ingest(ctx, corpus_copy)
    before = _assert_consistent(ctx)
    chunk_ids = set(ctx.store.chunks.get()["ids"])

    again = _ingest(ctx, corpus_copy)
    assert again.count("unchanged") == 3 and again.chunks_written == 0
    assert set(ctx.store.chunks.get()["ids"]) == chunk_ids

    german = corpus_copy / f"{GERMAN}.txt"
    german.write_text(german.read_text(encoding="utf-8") + "\nDie Delegation reiste am Donnerstag nach Moskau zurück.\n", encoding="utf-8")
    edited = _ingest(ctx, corpus_copy)
    assert edited.count("updated") == 1 and edited.count("unchanged") == 2
    after = _assert_consistent(ctx)
    assert after[f"{FRENCH}.txt"] == before[f"{FRENCH}.txt"]
    hits = search(ctx.store, ctx.embedder, "Delegation reiste nach Moskau zurück", k=1)
    assert "Donnerstag" in hits[0].text


def test_prune_removes_documents_whose_files_vanished(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    _ingest(ctx, corpus_copy)
    (corpus_copy / f"{FRENCH}.txt").unlink()
    kept = _ingest(ctx, corpus_copy)
    assert kept.count("removed") == 0 and len(ctx.store.documents()) == 3
    pruned = _ingest(ctx, corpus_copy, prune=True)
    assert pruned.count("removed") == 1
    assert len(ctx.store.documents()) == 2
    _assert_consistent(ctx)


def test_bad_inputs_get_reasons_and_the_rest_ingests(tmp_path, corpus_copy):
    bad = corpus_copy
    (bad / "empty.txt").write_bytes(b"")
    (bad / "binary.txt").write_bytes(bytes(random.Random(1).randrange(256) for _ in range(4096)) + b"\x00" * 64)
    (bad / "huge.txt").write_bytes(b"Lorem ipsum dolor sit amet. " * (20 * 1024 * 1024 // 28 + 1))
    (bad / "arabic-cp1256.txt").write_bytes("التقى وزير الدفاع الروسي نظيره الإيراني في طهران لبحث التعاون العسكري.".encode("cp1256"))
    (bad / "german-utf16.txt").write_text("Schoigu traf in Teheran den iranischen Generalstabschef Bagheri.", encoding="utf-16")
    (bad / "scripts.html").write_text("<html><head><script>var a = 1;</script></head><body><script>alert(1)</script></body></html>")
    (bad / "folder.txt").mkdir()
    (bad / "notes.docx").write_bytes(b"PK\x03\x04")
    outside = tmp_path / "secret.txt"
    outside.write_text("Not part of the corpus.")
    (bad / "link.txt").symlink_to(outside)

    ctx = make_context(tmp_path / "data")
    report = _ingest(ctx, bad)
    by_name = {Path(o.path).name: o for o in report.outcomes}
    assert by_name["empty.txt"].status == "failed" and "empty" in by_name["empty.txt"].reason
    assert by_name["binary.txt"].status == "failed" and "binary" in by_name["binary.txt"].reason
    assert by_name["huge.txt"].status == "failed" and "too large" in by_name["huge.txt"].reason
    assert by_name["scripts.html"].status == "failed" and by_name["scripts.html"].reason
    assert by_name["folder.txt"].status == "skipped" and "directory" in by_name["folder.txt"].reason
    assert by_name["notes.docx"].status == "skipped" and "unsupported" in by_name["notes.docx"].reason
    assert by_name["link.txt"].status == "skipped" and "outside" in by_name["link.txt"].reason
    assert by_name["arabic-cp1256.txt"].status == "added" and by_name["arabic-cp1256.txt"].language == "ar"
    assert by_name["german-utf16.txt"].status == "added" and by_name["german-utf16.txt"].language == "de"
    assert report.count("added") == 5
    hits = search(ctx.store, ctx.embedder, "Russian defence minister met his Iranian counterpart", k=5, filters=Filters(languages=["ar"]))
    assert any("وزير الدفاع الروسي نظيره الإيراني" in h.text for h in hits)
    _assert_consistent(ctx)


def test_language_filter_and_date_range(tmp_path, corpus_copy):
    ctx = make_context(tmp_path / "data")
    _ingest(ctx, corpus_copy)
    german_only = search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(languages=["de"]))
    assert german_only and {h.language for h in german_only} == {"de"}
    dated = search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(since="2023-09-01", until="2023-09-30"))
    assert dated and {Path(h.path).stem for h in dated} == {ARABIC}
    assert search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(since="2030-01-01")) == []
    until = search(ctx.store, ctx.embedder, "Iran Russia", k=10, filters=Filters(until="2023-12-31"))
    assert until and {Path(h.path).stem for h in until} == {ARABIC}  # undated articles are outside any range


def _many_articles(folder: Path, copies: int) -> None:
    """Distinct articles made from the seeds, so an ingestion runs long enough to be killed mid-way."""
    folder.mkdir()
    seeds = sorted(CORPUS.glob("*.txt"))
    for i in range(copies):
        seed = seeds[i % len(seeds)]
        text = seed.read_text(encoding="utf-8")
        (folder / f"{i:03d}_{seed.name}").write_text(f"{text}\n\nDépêche numéro {i}.\n", encoding="utf-8")


def test_killed_ingestion_then_rerun_is_consistent(tmp_path):
    articles = tmp_path / "articles"
    _many_articles(articles, 45)
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_EMBEDDER__NAME": "use", "RAG_EMBEDDER__BATCH_SIZE": "8"}
    command = [sys.executable, "-m", "rag.cli", "ingest", str(articles)]
    rng = random.Random(7)
    for attempt in range(3):
        proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4 + rng.random() * 4)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, timeout=600)

    ctx = make_context(tmp_path / "data", embedder="use")
    resumed = _assert_consistent(ctx)
    assert len(resumed) == 45

    clean = make_context(tmp_path / "clean", embedder="use")
    _ingest(clean, articles)
    assert _assert_consistent(clean) == resumed


def test_other_embedder_on_existing_collection_is_a_clear_error(tmp_path, corpus_copy):
    from rag.store import StoreError

    data = tmp_path / "data"
    _ingest(make_context(data, embedder="use"), corpus_copy)
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
    report = _ingest(ctx, corpus_copy)
    assert report.count("added") == 3
    assert not (tmp_path / "data" / "chroma").exists()  # nothing written to the embedded store
    hits = search(ctx.store, ctx.embedder, "How many people died in the bombing in Kerman?", k=3)
    assert FRENCH in [Path(h.path).stem for h in hits]
    assert _ingest(ctx, corpus_copy).count("unchanged") == 3
    _assert_consistent(ctx)
