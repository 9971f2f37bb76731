"""The store against a real `chroma run` that goes away and comes back while one session (like the
long-running UI) keeps its context: a readable error while it is down, the same objects working again
once it is back, and an index that is never half-written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from rag import fusion
from rag.answer import Answerer
from rag.config import Settings
from rag.context import RagContext
from rag.ingest.pipeline import ingest, sentence_units
from rag.retrieve import search
from rag.store import SENTENCE_VECTORS, StoreError, drop_collections
from tests.rag_fixtures import CORPUS, DEFAULT_EMBEDDER, GERMAN, make_context, shared_embedder

QUESTION = "What did Mossad chief David Barnea warn about?"


def _server(chroma_server) -> dict:
    return {"host": chroma_server.host, "port": chroma_server.port}


def assert_unreachable(error: pytest.ExceptionInfo, chroma_server) -> None:
    """The message names the server and what to do, and carries nothing of the HTTP library."""
    message = str(error.value)
    assert f"Chroma server at 127.0.0.1:{chroma_server.port} is unreachable (connection refused)" in message
    assert "chroma run" in message and "RAG_CHROMA__HOST" in message
    for raw in ("Traceback", "httpx", "ConnectError", "Errno"):
        assert raw not in message


def test_server_down_is_a_clear_error_and_the_same_session_works_once_it_is_back(tmp_path, corpus_copy, chroma_server):
    """Search and the extractive answer path, with the store object kept across the outage."""
    ctx = make_context(tmp_path / "data", chroma=_server(chroma_server))
    assert ingest([corpus_copy], ctx.settings, ctx.store, ctx.embedder).count("added") == 3
    store, answerer = ctx.store, Answerer(ctx, llm="none")
    assert Path(search(store, ctx.embedder, QUESTION)[0].path).stem == GERMAN

    chroma_server.stop()
    for call in (lambda: search(store, ctx.embedder, QUESTION), lambda: answerer.answer(QUESTION), store.documents):
        with pytest.raises(StoreError) as error:
            call()
        assert_unreachable(error, chroma_server)

    chroma_server.start()  # same port, same --path
    assert ctx.store is store
    assert Path(search(store, ctx.embedder, QUESTION)[0].path).stem == GERMAN
    answer = answerer.answer(QUESTION)
    assert not answer.abstained and Path(answer.citations[0].path).stem == GERMAN


def test_a_hung_server_is_a_clear_error_not_a_hang(tmp_path, chroma_server):
    """A server that accepts connections but never answers (frozen with SIGSTOP): requests give up after
    `chroma.timeout_s`, in a running session and when a new one starts; it all works once it answers again."""
    chroma = {**_server(chroma_server), "timeout_s": 2}
    ctx = make_context(tmp_path / "data", chroma=chroma)
    store = ctx.store
    assert store.documents() == {}
    chroma_server.pause()
    try:
        for call in (store.documents, lambda: make_context(tmp_path / "other", chroma=chroma).store):
            started = time.monotonic()
            with pytest.raises(StoreError) as error:
                call()
            assert time.monotonic() - started < 30  # without the timeout this waits forever
            assert f"Chroma server at 127.0.0.1:{chroma_server.port} is unreachable (timed out)" in str(error.value)
    finally:
        chroma_server.resume()
    assert store.documents() == {}


def test_ingest_cut_off_by_the_server_leaves_only_whole_documents(tmp_path, corpus_copy, chroma_server):
    """batch_size=1 commits each article on its own; the server stops after the first one is committed."""
    settings = Settings(data_dir=tmp_path / "data", embedder={"name": "e5-small", "batch_size": 1}, chroma=_server(chroma_server))
    ctx = RagContext(settings, embedder=shared_embedder("e5-small"))

    def stop_after_first(done: int, total: int, name: str) -> None:
        if done == 1:
            chroma_server.stop()

    with pytest.raises(StoreError) as error:
        ingest([corpus_copy], settings, ctx.store, ctx.embedder, progress=stop_after_first)
    assert_unreachable(error, chroma_server)

    chroma_server.start()
    (record,) = ctx.store.documents().values()
    assert len(ctx.store.document_chunks(record.doc_id)) == record.chunks == ctx.store.count()
    again = ingest([corpus_copy], settings, ctx.store, ctx.embedder)
    assert (again.count("unchanged"), again.count("added"), again.removed_uncommitted) == (1, 2, 0)


def rebuild(tmp_path: Path, chroma_server, embedder: str) -> None:
    """What `rag ingest --reindex` does from another process: drop the collections, ingest anew."""
    cli = make_context(tmp_path / f"cli-{embedder}", embedder=embedder, chroma=_server(chroma_server))
    drop_collections(cli.settings)
    ingest([CORPUS / f"{GERMAN}.txt"], cli.settings, cli.store, cli.embedder)


def test_a_collection_rebuilt_by_another_process_is_reopened(tmp_path, corpus_copy, chroma_server):
    """The UI holds handles to collections that another process may replace."""
    ui = make_context(tmp_path / "ui", chroma=_server(chroma_server))
    ingest([corpus_copy], ui.settings, ui.store, ui.embedder)

    rebuild(tmp_path, chroma_server, DEFAULT_EMBEDDER)
    assert [Path(r.path).stem for r in ui.store.documents().values()] == [GERMAN]
    assert Path(search(ui.store, ui.embedder, QUESTION)[0].path).stem == GERMAN

    rebuild(tmp_path, chroma_server, "use")
    for _ in range(2):  # the refused collection is not kept for the next call
        with pytest.raises(StoreError, match="built with embedder 'use'.*--reindex"):
            search(ui.store, ui.embedder, QUESTION)


def test_an_empty_index_finds_nothing(tmp_path, chroma_server):
    """Searches ask Chroma for a candidate pool without counting first: an empty collection answers empty."""
    for chroma in ({}, _server(chroma_server)):
        ctx = make_context(tmp_path / f"data-{len(chroma)}", chroma=chroma)
        assert ctx.store.count() == 0 and search(ctx.store, ctx.embedder, QUESTION) == []


def test_uncommitted_chunks_never_take_the_places_of_committed_ones(tmp_path, chroma_server):
    """Chunks written before their registry record (an ingest in progress, or killed) are skipped, and the
    search still returns k committed chunks with their texts, embedded and against a server."""
    for chroma in ({}, _server(chroma_server)):
        ctx = make_context(tmp_path / f"data-{len(chroma)}", chroma=chroma)
        ingest([CORPUS], ctx.settings, ctx.store, ctx.embedder)
        vector = ctx.embedder.embed_queries([QUESTION])[0]
        before = ctx.store.query(vector, 3)
        top = ctx.store.chunks.get(ids=[h.chunk_id for h in before], include=["metadatas", "documents", "embeddings"])
        ctx.store.chunks.add(  # a new version of the best chunks, written but not yet committed
            ids=[f"{i}-next" for i in top["ids"]], embeddings=top["embeddings"], documents=["uncommitted " + t for t in top["documents"]],
            metadatas=[{**m, "content_hash": "not-committed"} for m in top["metadatas"]])
        after = ctx.store.query(vector, 3)
        assert [h.chunk_id for h in after] == [h.chunk_id for h in before]
        assert [h.text for h in after] == [h.text for h in before] and all(h.text and "uncommitted" not in h.text for h in after)


def _expected_order(ctx, vector, k: int, with_sentences: bool) -> list[str]:
    """The first k chunk ids as rag/fusion.py ranks Chroma's pool, the sentences' vectors embedded afresh."""
    pool = ctx.store.chunks.query(query_embeddings=[vector.tolist()], n_results=fusion.POOL,
                                  include=["metadatas", "distances", "embeddings", "documents"])
    metas, texts = pool["metadatas"][0], pool["documents"][0]
    best = None
    if with_sentences:
        groups = [sentence_units(t, int(m["start"]), json.loads(m["sentences"])) for m, t in zip(metas, texts)]
        best = fusion.best_sentence_cosines(vector, [ctx.embedder.embed_passages(g) for g in groups])
    scores = fusion.fuse(vector, [1.0 - d for d in pool["distances"][0]], [m["language"] for m in metas], ctx.store.embedder_name,
                         passage_vectors=np.asarray(pool["embeddings"][0]), sentence_cosines=best)
    return [pool["ids"][0][i] for i in np.argsort(-scores, kind="stable")[:k]]


def test_questions_rank_chunks_by_their_best_sentence_too(tmp_path):
    """A question's candidates gain their best sentence's lead over the whole chunk, from the sentence vectors
    stored at ingestion; once one candidate has none (ingested before they existed), the pool is ranked
    without the term rather than unevenly."""
    ctx = make_context(tmp_path / "data")
    ingest([CORPUS], ctx.settings, ctx.store, ctx.embedder)
    questions = ["Who invited the Russian defence minister to Iran?", "How many people died in the bombing in Kerman?",
                 "What did Mossad chief David Barnea warn about?", "Quand Choïgou est-il arrivé à Téhéran ?"]
    changed = 0
    for question in questions:
        vector = ctx.embedder.embed_queries([question])[0]
        got = [h.chunk_id for h in ctx.store.query(vector, 5)]
        assert got == _expected_order(ctx, vector, 5, with_sentences=True), question
        changed += got != _expected_order(ctx, vector, 5, with_sentences=False)
    assert changed >= 1  # the term decides some orders here

    assert ctx.store.count() <= fusion.POOL  # every chunk is a candidate
    vector = ctx.embedder.embed_queries([questions[0]])[0]
    ctx.store.chunks.update(ids=ctx.store.chunks.get(limit=1)["ids"], metadatas=[{SENTENCE_VECTORS: None}])
    got = [h.chunk_id for h in ctx.store.query(vector, 5)]
    assert got == _expected_order(ctx, vector, 5, with_sentences=False) != _expected_order(ctx, vector, 5, with_sentences=True)
