"""Retrieval latency and ingestion at 1k-100k chunks (issues #3 and #8), through the product's store and search.

    python -m bench.scale                                   # use, 1k + 10k chunks, embedded + server: minutes
    python -m bench.scale --embedder e5-small --workdir /tmp/scale-e5   # the default embedder at 10k: ~1 h, resumable
    python -m bench.scale --embedder e5-small+use --workdir /tmp/scale-e5use   # e5 + USE at 10k: ~1 h, resumable
    python -m bench.scale --sizes 1000 10000 20000 100000 --workdir /tmp/scale-use   # 100k with use: ~1 h

Ingest: the chunks are embedded with `embedder.embed_passages` in the batches rag/ingest/pipeline.py
flushes (whole documents, at least `embedder.batch_size` chunks), then each batch is committed with
`VectorStore.write_documents`, once per Chroma mode (embedded PersistentClient, and a real `chroma run`
server on loopback). Both are timed, so ingest chunks/s = chunks / (embedding s + write s) of the mode.
The vectors are kept in the work directory, so an interrupted run resumes where it stopped and a second
run re-measures writes and searches without embedding again. Loading, cleaning and chunking files is not
included: bench/ingest.py measures that share (the pipeline's overhead over its embedder).

Search: at each size, p50/p95 of `rag.retrieve.search` (k = answer.k) over XQuAD questions in 12
languages, split into query embedding, Chroma query (pool), Chroma texts (the k kept), registry lookup, fusion (the
language-centring re-rank, e5-small and e5-small+use only) and the rest. Warm-up queries are excluded; the first query
after restarting the server (index loaded from disk) is reported apart as the cold query.

e5-small at 100k: it embeds ~2-3 chunks/s per core, so a 100k index would take ~5 h here. The other
embedder's run therefore also measures, per question on the same index, what e5-small's search would
add: its query embedding, a Chroma query for e5's candidate pool (max(fusion.POOL, 2 k + 4) rather than
2 k + 4), the fusion, the registry lookup and the text fetch for the k best; their sum estimates e5's search latency at
that size (the index holds 512-d USE vectors instead of 384-d e5 ones: a slightly dearer Chroma query).

Corpus (real text, every chunk distinct): XQuAD's 12 x 160 paragraphs hold ~9k sentences, and contiguous
sentence windows that fit the product's 220-token chunk budget number only ~27k, so each language
gets 10k chunks made of its article's units (sentences; sentences over 110 tokens are cut by
rag.ingest.chunking into pieces of at most 110 tokens): every contiguous window of units that fits the
budget, topped up with pairs of two disjoint windows of the same article (in reading order, joined by
a space, within the budget), deduplicated and shuffled. Chunks are grouped by 8 into documents and
the languages interleaved, so every prefix (1k, 10k, 100k) mixes all 12 languages evenly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench.common import (
    ChromaServer,
    disk_mb,
    load_average,
    peak_rss_mb,
    reset_peak_rss,
    RESULTS,
    rss_mb,
    save,
)
from evals.xquad import LANGUAGES, paragraphs, questions
from rag import fusion
from rag import store as store_module
from rag.config import Settings
from rag.context import RagContext
from rag.documents import Chunk, Document
from rag.embeddings import Embedder, make_embedder
from rag.ingest.chunking import chunk_document, split_sentences
from rag.ingest.clean import guess_title
from rag.ingest.pipeline import embed_sentences, keeps_sentence_vectors
from rag.retrieve import search
from rag.store import EmbeddedDocument, VectorStore
from rag.tokens import count_tokens

CHUNK_TOKENS = 220  # the default chunk budget (ChunkSettings.max_tokens)
UNIT_TOKENS = CHUNK_TOKENS // 2  # longer sentences are cut, so two units of any language fit a chunk
PER_LANGUAGE = 10_000  # 120k chunks: every run, whatever its sizes, indexes a prefix of the same sequence
CHUNKS_PER_DOCUMENT = 8
PARAGRAPHS_PER_ARTICLE = 5  # XQuAD: 32 articles x 5 paragraphs per language
SEED = 3


# -- corpus ------------------------------------------------------------------------------------------


@dataclass
class _Article:
    text: str
    units: list[tuple[int, int, int]]  # (start, end, cl100k tokens) of each sentence or sentence piece


def _units(text: str, language: str) -> list[tuple[int, int, int]]:
    units = []
    for s, e in split_sentences(text):
        tokens = count_tokens(text[s:e])
        if tokens <= UNIT_TOKENS:
            units.append((s, e, tokens))
            continue
        sentence = Document(doc_id="unit", path="", text=text[s:e], title="", language=language)
        units += [(s + c.start, s + c.end, c.token_count) for c in chunk_document(sentence, UNIT_TOKENS, 0)]
    return units


def _window(units: list[tuple[int, int, int]], first: int, budget: int, rng: random.Random) -> tuple[int, int] | None:
    """A random contiguous run of units from `first` within `budget` tokens: (end, tokens), or None."""
    ends, total = [], 0
    for j in range(first, len(units)):
        total += units[j][2]
        if total > budget:
            break
        ends.append((j + 1, total))
    return rng.choice(ends) if ends else None


def _language_chunks(language: str, taken: set[str]) -> list[tuple[_Article, list[tuple[int, int]]]]:
    """PER_LANGUAGE chunks of one language, shuffled: (article, unit runs [first, end)); none whose text is
    in `taken` (chunks of the languages before; names and numbers can read the same), all added to it."""
    texts = paragraphs(language)
    articles = []
    for a in range(0, len(texts), PARAGRAPHS_PER_ARTICLE):
        text = "\n".join(texts[a : a + PARAGRAPHS_PER_ARTICLE])
        articles.append(_Article(text, _units(text, language)))
    chosen: dict[str, tuple[_Article, list[tuple[int, int]]]] = {}

    def add(article: _Article, runs: list[tuple[int, int]]) -> None:
        text = " ".join(article.text[article.units[i][0] : article.units[j - 1][1]] for i, j in runs)
        if text not in taken:
            chosen.setdefault(text, (article, runs))

    for article in articles:  # every single window within the budget
        for i in range(len(article.units)):
            total = 0
            for j in range(i, len(article.units)):
                total += article.units[j][2]
                if total > CHUNK_TOKENS:
                    break
                add(article, [(i, j + 1)])
    rng = random.Random(f"{SEED}-{language}")
    attempts = 0
    while len(chosen) < PER_LANGUAGE:  # then pairs of disjoint windows of one article
        attempts += 1
        if attempts > 200 * PER_LANGUAGE:
            raise RuntimeError(f"{language}: only {len(chosen)} distinct chunks")
        article = rng.choice(articles)
        n = len(article.units)
        first = rng.randrange(n)
        a = _window(article.units, first, CHUNK_TOKENS, rng)
        if a is None or a[0] >= n:
            continue
        second = rng.randrange(a[0], n)
        b = _window(article.units, second, CHUNK_TOKENS - a[1], rng)
        if b is not None:
            add(article, [(first, a[0]), (second, b[0])])
    texts = list(chosen)
    rng.shuffle(texts)
    taken.update(texts[:PER_LANGUAGE])
    return [chosen[text] for text in texts[:PER_LANGUAGE]]


def corpus(limit: int) -> list[tuple[Document, list[Chunk]]]:
    """The first `limit` chunks of the benchmark sequence as documents of 8 chunks, languages interleaved
    (the same documents for every limit, the last one cut short)."""
    if limit > PER_LANGUAGE * len(LANGUAGES):
        raise SystemExit(f"at most {PER_LANGUAGE * len(LANGUAGES)} chunks")
    taken: set[str] = set()
    plans = {lang: _language_chunks(lang, taken) for lang in LANGUAGES}
    docs, total = [], 0
    for d in range(0, PER_LANGUAGE, CHUNKS_PER_DOCUMENT):
        for lang in LANGUAGES:
            if total == limit:
                return docs
            group = plans[lang][d : d + CHUNKS_PER_DOCUMENT][: limit - total]
            docs.append(_document(lang, d // CHUNKS_PER_DOCUMENT, group))
            total += len(group)
    return docs


def _document(language: str, number: int, group: list[tuple[_Article, list[tuple[int, int]]]]) -> tuple[Document, list[Chunk]]:
    """Chunks laid end to end as one document's text, each with the offsets of its sentences in it."""
    parts, spans, offset = [], [], 0
    for article, runs in group:
        sentences = []
        for r, (i, j) in enumerate(runs):
            if r:
                parts.append(" ")
                offset += 1
            base = article.units[i][0]
            piece = article.text[base : article.units[j - 1][1]]
            sentences += [(offset + s - base, offset + e - base) for s, e, _ in article.units[i:j]]
            parts.append(piece)
            offset += len(piece)
        spans.append(sentences)
        parts.append("\n\n")
        offset += 2
    text = "".join(parts).rstrip()
    doc_id = f"xquad-{language}-{number:04d}"
    doc = Document(doc_id=doc_id, path=f"bench/xquad/{doc_id}.txt", text=text, title=guess_title(text), language=language,
                   source="XQuAD", content_hash=hashlib.sha256(text.encode()).hexdigest())
    chunks = []
    for index, sentences in enumerate(spans):
        start, end = sentences[0][0], sentences[-1][1]
        chunks.append(Chunk(doc_id=doc_id, index=index, text=text[start:end], start=start, end=end, sentences=sentences,
                            language=language, token_count=count_tokens(text[start:end])))
    return doc, chunks


def batches(docs: list[tuple[Document, list[Chunk]]], size: int) -> list[list[tuple[Document, list[Chunk]]]]:
    """Whole documents until at least `size` chunks are pending, as the ingestion pipeline flushes them."""
    out, pending = [], []
    for doc in docs:
        pending.append(doc)
        if sum(len(chunks) for _, chunks in pending) >= size:
            out.append(pending)
            pending = []
    return out + ([pending] if pending else [])


# -- embedding (resumable) -------------------------------------------------------------------------


def _chunks(batch) -> list[Chunk]:
    return [c for _, chunks in batch for c in chunks]


def _texts(batch) -> list[str]:
    return [c.text for c in _chunks(batch)]


def embed(embedder: Embedder, plan: list, folder: Path, sentences: bool, log=sys.stderr) -> list[dict]:
    """Embed every batch not embedded yet; vectors go to `folder/<batch>.npy` (with `sentences`, each chunk's
    sentence vectors to `folder/<batch>.sentences.npz`, as the ingestion pipeline makes them), timings to
    `folder/embed.jsonl` (returned, one row per batch: `s` for the chunks, `sentence_s` for their sentences).

    A batch counts once its line is in embed.jsonl (written after its vectors), so a killed run loses at
    most the batch in flight. A batch whose texts differ from the journal's (the last, cut short by a
    smaller size) is embedded again; the later line wins. A batch embedded without sentence vectors (or with
    other sentence units) by an earlier run gets only those.
    """
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / "embed.jsonl"
    done = {}
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # cut short by a kill: that batch is embedded again
                continue
            done[row["batch"]] = row
    started, last_report, new = time.perf_counter(), time.perf_counter(), 0
    with journal.open("a", encoding="utf-8") as out:
        for b, batch in enumerate(plan):
            texts = _texts(batch)
            digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
            previous = done.get(b) if b in done and done[b]["sha"] == digest else None
            if previous and (not sentences or previous.get("sentence_tokens") == fusion.SENTENCE_TOKENS):
                continue
            if previous:  # its chunk vectors, timing and load stay as the earlier run measured them
                vectors, row = np.load(folder / f"{b:05d}.npy"), dict(previous)
            else:
                t0 = time.perf_counter()
                vectors = embedder.embed_passages(texts)
                seconds = time.perf_counter() - t0
                np.save(folder / f"{b:05d}.npy", vectors)
                row = {"batch": b, "chunks": len(texts), "tokens": sum(c.token_count for _, cs in batch for c in cs),
                       "s": round(seconds, 4), "sha": digest, "load1": round(os.getloadavg()[0], 2),
                       "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            if sentences:
                t0 = time.perf_counter()
                rows = embed_sentences(embedder, _chunks(batch), vectors)
                row |= {"sentence_s": round(time.perf_counter() - t0, 4), "sentence_tokens": fusion.SENTENCE_TOKENS,
                        "sentence_load1": round(os.getloadavg()[0], 2),
                        "sentence_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                np.savez(folder / f"{b:05d}.sentences.npz", rows=np.vstack(rows), counts=[len(r) for r in rows])
            out.write(json.dumps(row) + "\n")
            out.flush()
            done[b], new = row, new + len(texts)
            if time.perf_counter() - last_report > 60:
                last_report = time.perf_counter()
                covered = sum(r["chunks"] for r in done.values() if not sentences or r.get("sentence_tokens") == fusion.SENTENCE_TOKENS)
                total = sum(len(_texts(x)) for x in plan)
                rate = new / (last_report - started)
                print(f"[embed {embedder.name}] {covered}/{total} chunks, {rate:.2f} chunks/s this run, "
                      f"ETA {(total - covered) / rate / 60:.0f} min, load {os.getloadavg()[0]:.2f}", file=log, flush=True)
    return [done[b] for b in range(len(plan))]


def _sentence_rows(folder: Path, b: int) -> list[np.ndarray] | None:
    """Batch b's sentence vectors per chunk, or None when this embedder keeps none."""
    path = folder / f"{b:05d}.sentences.npz"
    if not path.exists():
        return None
    with np.load(path) as saved:
        return np.split(saved["rows"], np.cumsum(saved["counts"])[:-1])


def _throughput(rows: list[dict]) -> dict:
    """Chunks/s over the whole plan, the chunks' own embedding plus, when kept, their sentences' (`sentences`:
    that part's seconds, time span and load, as the run that embedded them measured it)."""
    chunks, tokens, chunk_s = sum(r["chunks"] for r in rows), sum(r["tokens"] for r in rows), sum(r["s"] for r in rows)
    out = {"chunks": chunks, "seconds": round(chunk_s, 1), "chunks_per_s": round(chunks / chunk_s, 2),
           "tokens_per_s": round(tokens / chunk_s, 1), "mean_tokens_per_chunk": round(tokens / chunks, 1),
           "load1_min_max": [min(r["load1"] for r in rows), max(r["load1"] for r in rows)], "from": rows[0]["at"], "to": rows[-1]["at"]}
    if "sentence_s" in rows[0]:
        sentence_s = sum(r["sentence_s"] for r in rows)
        out["sentences"] = {"seconds": round(sentence_s, 1), "chunks_per_s_with_sentences": round(chunks / (chunk_s + sentence_s), 2),
                            "load1_min_max": [min(r["sentence_load1"] for r in rows), max(r["sentence_load1"] for r in rows)],
                            "from": min(r["sentence_at"] for r in rows), "to": max(r["sentence_at"] for r in rows)}
    return out


# -- writing and searching ---------------------------------------------------------------------------

WARMUP = 5  # queries run before timing starts
EMBED_SAMPLE = 512  # chunks embedded again in every run, so embedding and writes are timed under the same load
PARTS = ("embed", "chroma_query", "chroma_texts", "registry", "fusion", "other")


class _Timed:
    """Forwards to `inner`, adding the wall time of the named methods to `laps`: it splits one real
    `search` call into its parts without reimplementing it."""

    def __init__(self, inner, laps: dict[str, float], labels: dict[str, str]) -> None:
        self._inner, self._laps, self._labels = inner, laps, labels

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        label = self._labels.get(name)
        if label is None:
            return attr

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._laps[label] = self._laps.get(label, 0.0) + (time.perf_counter() - started) * 1000

        return timed


@contextmanager
def _instrumented(store: VectorStore, embedder: Embedder, laps: dict[str, float]) -> Iterator[Embedder]:
    """Time the store's Chroma calls, the fusion and the query embedding inside `search`; undone on exit."""
    chunks, registry = store.chunks, store.registry
    store.chunks = _Timed(chunks, laps, {"query": "chroma_query", "get": "chroma_texts"})
    store.registry = _Timed(registry, laps, {"get": "registry"})
    store_module.fusion = _Timed(fusion, laps, {"fuse": "fusion"})
    try:
        yield _Timed(embedder, laps, {"embed_queries": "embed"})
    finally:
        store.chunks, store.registry, store_module.fusion = chunks, registry, fusion


def _stats(values: list[float]) -> dict:
    return {"p50": round(float(np.percentile(values, 50)), 1), "p95": round(float(np.percentile(values, 95)), 1),
            "max": round(max(values), 1)}


def questions_mix(count: int) -> list[str]:
    """XQuAD questions, the 12 languages in turn, shuffled."""
    asked = [q.text for group in zip(*(questions(lang) for lang in LANGUAGES)) for q in group]
    random.Random(SEED).shuffle(asked)
    return asked[:count]


def measure_search(store: VectorStore, embedder: Embedder, asks: list[str], k: int,
                   variants: tuple[bool, ...] = (True,)) -> list[dict]:
    """p50/p95 of `search` and of its parts over `asks` minus the warm-up, and the first query on its own,
    for each `question` variant (see VectorStore.query). Variants take turns on every question, in alternating order, so
    that a slow spell of this shared machine falls on all of them alike."""
    laps: dict[str, float] = {}
    rows: list[list[dict]] = [[] for _ in variants]
    with _instrumented(store, embedder, laps) as timed:
        for i, ask in enumerate(asks):
            for v in (range(len(variants)) if i % 2 == 0 else reversed(range(len(variants)))):
                laps.clear()
                started = time.perf_counter()
                if not search(store, timed, ask, k, question=variants[v]):
                    raise RuntimeError(f"no hits for {ask!r}")
                total = (time.perf_counter() - started) * 1000
                rows[v].append({"total": total, **laps, "other": total - sum(laps.values())})
    return [_search_stats(variant_rows) for variant_rows in rows]


def _search_stats(rows: list[dict]) -> dict:
    timed_rows = rows[WARMUP:]
    parts = {p: _stats([r.get(p, 0.0) for r in timed_rows]) for p in PARTS if any(p in r for r in timed_rows)}
    return {"queries": len(timed_rows), "first_ms": round(rows[0]["total"], 1), "total": _stats([r["total"] for r in timed_rows]),
            "parts": parts}


def measure_search_rows(store: VectorStore, embedder: Embedder, e5: Embedder | None, asks: list[str], k: int) -> dict:
    """A size's search measurements: the product's `search`; for an embedder whose candidates are re-ranked
    for questions (hubness share, sentence term), the same questions without that, in turns (its cost,
    measured in one run); e5-small's estimate on another embedder's index."""
    if fusion.centred(embedder.name):
        reranked, without = measure_search(store, embedder, asks, k, variants=(True, False))
        row = {"search": reranked, "search_without_hubs": without}  # key kept: earlier results use it
    else:
        row = {"search": measure_search(store, embedder, asks, k)[0]}
    if e5 is not None:
        row["e5_estimate"] = measure_e5_shape(store, embedder, e5, asks, k)
    return row


def measure_e5_shape(store: VectorStore, embedder: Embedder, e5: Embedder, asks: list[str], k: int) -> dict:
    """Per question, what e5-small's search would cost on this index, done as VectorStore.query does it:
    its query embedding, a Chroma query for e5's candidate pool (ids, metadata, distances and vectors, which
    the hubness share needs), the fusion, the registry lookup of the k best chunks' documents and the fetch
    of their texts. The pool's vectors are this index's (USE's 512-d, a little dearer to return than e5's
    384-d); the hubness share is computed on their first 384 dimensions: values that mean nothing, at e5's cost.
    This index has no sentence vectors: what they add to the pool query is measured by bench/sentence_payload.py."""
    pool = max(fusion.POOL, 2 * k + 4)
    rows = []
    for question in asks:
        vector = embedder.embed_queries([question])[0].tolist()
        t0 = time.perf_counter()  # e5's query embedding, timed where the product does it: one question at a time
        e5_vector = e5.embed_queries([question])[0]
        t1 = time.perf_counter()
        got = store.chunks.query(query_embeddings=[vector], n_results=pool, include=["metadatas", "distances", "embeddings"])
        t2 = time.perf_counter()
        metas = got["metadatas"][0]
        scores = fusion.fuse(e5_vector, [1.0 - d for d in got["distances"][0]], [m["language"] for m in metas],
                             passage_vectors=np.asarray(got["embeddings"][0], dtype=np.float32))
        order = np.argsort(-scores, kind="stable")
        t3 = time.perf_counter()
        best = [int(i) for i in order[:k]]
        store.registry.get(ids=sorted({metas[i]["doc_id"] for i in best}), include=["metadatas"])
        t4 = time.perf_counter()
        store.chunks.get(ids=[got["ids"][0][i] for i in best], include=["documents"])
        t5 = time.perf_counter()
        rows.append({"e5_embed": t1 - t0, "chroma": t2 - t1 + t5 - t4, "registry": t4 - t3, "fusion": t3 - t2, "total": t5 - t0})
    rows = rows[WARMUP:]
    return {"pool": pool, **{key: _stats([r[key] * 1000 for r in rows]) for key in ("total", "e5_embed", "chroma", "registry", "fusion")}}


def index_and_search(mode: str, embedder: Embedder, plan: list, embed_rate: float, vectors: Path, sizes: list[int],
                     asks: list[str], workdir: Path, e5: Embedder | None, log=sys.stderr) -> list[dict]:
    """Write the plan's batches into a fresh index of one Chroma mode; at each size, measure memory, disk
    and search (ingest chunks/s combines `embed_rate`, chunks/s, with the writes). One row per size."""
    root = workdir / mode
    shutil.rmtree(root, ignore_errors=True)
    server = ChromaServer(root / "chroma-server") if mode == "server" else None
    chroma = {"host": server.host, "port": server.port} if server else {}
    settings = Settings(data_dir=root / "data", embedder={"name": embedder.name}, chroma=chroma)
    k = settings.answer.k
    with server or nullcontext():
        ctx = RagContext(settings, embedder=embedder)
        baseline = rss_mb()
        store = ctx.store
        reset_peak_rss()
        if server:
            reset_peak_rss(server.proc.pid)
        pending, rows, written, write_s = sorted(sizes), [], 0, 0.0
        for b, batch in enumerate(plan):
            matrix, sentence_rows = np.load(vectors / f"{b:05d}.npy"), _sentence_rows(vectors, b)
            docs, offset = [], 0
            for doc, chunks in batch:
                end = offset + len(chunks)
                docs.append(EmbeddedDocument(doc, chunks, matrix[offset:end], None if sentence_rows is None else sentence_rows[offset:end]))
                offset = end
            started = time.perf_counter()
            store.write_documents(docs, datetime.now(timezone.utc).isoformat(timespec="seconds"), set())
            write_s += time.perf_counter() - started
            written += offset
            if not pending or written < pending[0]:
                continue
            pending.pop(0)
            row = {"mode": mode, "chunks": written, "documents": len(store.documents()), "load_before": load_average(),
                   "write_s": round(write_s, 1), "write_chunks_per_s": round(written / write_s, 1),
                   "ingest_chunks_per_s": round(written / (written / embed_rate + write_s), 2),
                   "process_rss_mb_before_store": baseline, "process_peak_rss_mb": peak_rss_mb()}
            if server:  # a restart loads the index from disk: the first search after it is the cold one
                row["server_peak_rss_mb"] = peak_rss_mb(server.proc.pid)
                server.stop()
                server.start()
            row |= measure_search_rows(store, embedder, e5, asks, k)
            if server:
                row["server_rss_mb_after_search"] = rss_mb(server.proc.pid)
            row["process_peak_rss_mb"] = peak_rss_mb()
            row["disk_mb"] = disk_mb(server.path if server else settings.chroma_path)
            row["load_after"] = load_average()
            rows.append(row)
            print(f"[{mode}] {written} chunks: search p50 {row['search']['total']['p50']} ms, p95 {row['search']['total']['p95']} ms, "
                  f"disk {row['disk_mb']} MB, load {row['load_after']}", file=log, flush=True)
    return rows


# -- report ---------------------------------------------------------------------------------------


def _retime(embedder: Embedder, sample: list, sentences: bool) -> dict:
    """Embed the sample's batches (and their sentences) again: embedding measured in the same run (and load)
    as the writes."""
    load_before = load_average()
    chunk_s = sentence_s = 0.0
    for batch in sample:
        started = time.perf_counter()
        vectors = embedder.embed_passages(_texts(batch))
        chunk_s += time.perf_counter() - started
        if sentences:
            started = time.perf_counter()
            embed_sentences(embedder, _chunks(batch), vectors)
            sentence_s += time.perf_counter() - started
    seconds = chunk_s + sentence_s
    chunks = sum(len(_texts(batch)) for batch in sample)
    return {"chunks": chunks, "seconds": round(seconds, 1), "chunk_s": round(chunk_s, 1), "sentence_s": round(sentence_s, 1),
            "chunks_per_s": round(chunks / seconds, 2), "load_before": load_before, "load_after": load_average()}


def run(sizes: list[int], embedder_name: str, modes: list[str], queries: int, workdir: Path) -> dict:
    load_start = load_average()
    settings = Settings(data_dir=workdir / "models", embedder={"name": embedder_name})
    embedder = make_embedder(settings)
    embedder.embed_passages(["warm-up"])  # the model load is not part of the timings
    docs = corpus(max(sizes))
    plan = batches(docs, settings.embedder.batch_size)
    vectors = workdir / f"vectors-{embedder.name}"
    sentences = keeps_sentence_vectors(settings)
    embedded = embed(embedder, plan, vectors, sentences)
    retimed = _retime(embedder, plan[: max(1, EMBED_SAMPLE // settings.embedder.batch_size)], sentences)
    e5 = make_embedder(Settings(embedder={"name": fusion.EMBEDDER})) if not fusion.centred(embedder.name) else None
    asks = questions_mix(WARMUP + queries)
    order = sorted(modes, key=lambda mode: mode != "server")  # embedded Chroma stays in this process's memory afterwards
    rows = [row for mode in order for row in index_and_search(mode, embedder, plan, retimed["chunks_per_s"], vectors, sizes, asks, workdir, e5)]
    chunks = [c for _, cs in docs for c in cs]
    return {"embedder": embedder.name, "dim": embedder.dim, "sentence_vectors": sentences, "embedder_threads": settings.embedder.threads,
            "batch_size": settings.embedder.batch_size, "k": settings.answer.k, "queries": queries,
            "corpus": {"chunks": len(chunks), "documents": len(docs), "languages": len(LANGUAGES),
                       "mean_tokens": round(sum(c.token_count for c in chunks) / len(chunks), 1),
                       "max_tokens": max(c.token_count for c in chunks)},
            "embedding": _throughput(embedded), "embedding_retimed": retimed, "sizes": rows, "load_start": load_start, "load_end": load_average(),
            "target": {"search_p50_ms_at_100k": 50}}


def search_again(name: str, workdir: Path, queries: int) -> dict:
    """Re-measure search on the largest index an earlier run (results `name`) left in `workdir`, e.g. after a
    change to the search path; ingest numbers and smaller sizes' rows stay as they were measured."""
    result = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    load_start = load_average()
    embedder = make_embedder(Settings(data_dir=workdir / "models", embedder={"name": result["embedder"]}))
    e5 = make_embedder(Settings(embedder={"name": fusion.EMBEDDER})) if not fusion.centred(embedder.name) else None
    asks = questions_mix(WARMUP + queries)
    largest = max(row["chunks"] for row in result["sizes"])
    for row in (r for r in result["sizes"] if r["chunks"] == largest):
        root = workdir / row["mode"]
        server = ChromaServer(root / "chroma-server") if row["mode"] == "server" else None
        settings = Settings(data_dir=root / "data", embedder={"name": embedder.name},
                            chroma={"host": server.host, "port": server.port} if server else {})
        with server or nullcontext():
            store = RagContext(settings, embedder=embedder).store
            if store.count() != largest:
                raise SystemExit(f"{root} holds {store.count()} chunks, not {largest}: run without --search-again")
            row |= measure_search_rows(store, embedder, e5, asks, settings.answer.k)
            row["load_after"] = load_average()
    result["search_again"] = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "chunks": largest,
                              "load_start": load_start, "load_end": load_average()}
    result.pop("measured_at", None), result.pop("machine", None)
    return result


def markdown(result: dict) -> str:
    emb, again = result["embedding"], result["embedding_retimed"]
    lines = [f"# Scale: {result['embedder']} ({result['dim']}-d), up to {result['corpus']['chunks']:,} chunks", "",
             (f"Load average (1, 5, 15 min) at start {result['load_start']}, at end {result['load_end']} on this shared 2-core "
              f"machine. {result['embedder_threads']} embedder threads, "
              f"batches of >= {result['batch_size']} chunks; k = {result['k']}; {result['queries']} timed queries per row "
              f"(XQuAD questions, 12 languages) after {WARMUP} warm-up ones."), "",
             (f"Chunks: XQuAD text in 12 languages, mean {result['corpus']['mean_tokens']} cl100k tokens "
              f"(max {result['corpus']['max_tokens']}); see the docstring of bench/scale.py for how they are cut."), "",
             "## Ingest", "",
             (f"Embedding ({result['embedder']}, `embed_passages`): all {emb['chunks']:,} chunks in {emb['seconds']} s = "
              f"**{emb['chunks_per_s']} chunks/s** ({emb['tokens_per_s']} tokens/s), measured {emb['from']} to {emb['to']} "
              f"(load1 {emb['load1_min_max'][0]}-{emb['load1_min_max'][1]})"
              + (f"; their sentences in {sent['seconds']} s more, measured {sent['from']} to {sent['to']} (load1 {sent['load1_min_max'][0]}-"
                 f"{sent['load1_min_max'][1]}): **{sent['chunks_per_s_with_sentences']} chunks/s** with them" if (sent := emb.get("sentences")) else "")
              + f" (kept in the work directory and reused). The first {again['chunks']} chunks embedded again in this run, under the "
              f"load of the writes below: {again['seconds']} s"
              + (f" (chunks {again['chunk_s']} s + their sentences {again['sentence_s']} s)" if again.get("sentence_s") else "")
              + f" = **{again['chunks_per_s']} chunks/s** (load {again['load_before']} -> {again['load_after']}); "
              "ingest chunks/s combines that rate with the writes."), "",
             "| mode | chunks | Chroma write s | write chunks/s | ingest chunks/s (embedding + write) | process peak RSS MB (before store) | server peak RSS MB | disk MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["sizes"]:
        lines.append(f"| {r['mode']} | {r['chunks']:,} | {r['write_s']} | {r['write_chunks_per_s']} | "
                     f"{r['ingest_chunks_per_s']} | {r['process_peak_rss_mb']} ({r['process_rss_mb_before_store']}) | "
                     f"{r.get('server_peak_rss_mb', '-')} | {r['disk_mb']} |")
    lines += ["", "## Search (`rag.retrieve.search`), ms", "",
              "| mode | chunks | p50 | p95 | max | query embedding p50 | Chroma query p50 | Chroma texts p50 | registry p50 | fusion p50 | rest p50 | first query | load after |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["sizes"]:
        s = r["search"]
        p50 = {part: str(s["parts"][part]["p50"]) if part in s["parts"] else "-" for part in PARTS}
        lines.append(f"| {r['mode']} | {r['chunks']:,} | {s['total']['p50']} | {s['total']['p95']} | {s['total']['max']} | {p50['embed']} | "
                     f"{p50['chroma_query']} | {p50['chroma_texts']} | {p50['registry']} | {p50['fusion']} | {p50['other']} | "
                     f"{s['first_ms']} | {r['load_after'][0]} |")
    without = [r for r in result["sizes"] if "search_without_hubs" in r]
    if without:
        lines += ["", ("The question re-ranking's cost (hubness share and, with sentence vectors, the best-sentence term), "
                       "measured in the same run: every question is also searched without it, in turns (Chroma then returns "
                       "no vectors with the pool, and the fusion computes neither; the sentence vectors travel in the pool's "
                       "metadata either way), ms:"), "",
                  "| mode | chunks | p50 with / without | p95 with / without | Chroma query p50 with / without | fusion p50 with / without |",
                  "|---|---|---|---|---|---|"]
        for r in without:
            s, b = r["search"], r["search_without_hubs"]
            lines.append(f"| {r['mode']} | {r['chunks']:,} | {s['total']['p50']} / {b['total']['p50']} | {s['total']['p95']} / "
                         f"{b['total']['p95']} | {s['parts']['chroma_query']['p50']} / {b['parts']['chroma_query']['p50']} | "
                         f"{s['parts']['fusion']['p50']} / {b['parts']['fusion']['p50']} |")
    largest = [r for r in result["sizes"] if r["chunks"] == max(x["chunks"] for x in result["sizes"])]
    remeasured = result.get("search_again")
    if remeasured:
        lines += ["", (f"Search at {remeasured['chunks']:,} chunks re-measured on the same index at {remeasured['at']} "
                       f"(`--search-again`, load {remeasured['load_start']} -> {remeasured['load_end']}); the ingest numbers "
                       "are from the first run.")]
    lines += ["", ("First query: in server mode the first search after restarting `chroma run` (index loaded from disk); "
                   "embedded, the first search after the writes."), "",
              (f"Target (issue #3): search p50 under {result['target']['search_p50_ms_at_100k']} ms at 100k chunks, first load "
               f"excluded. Here at {largest[0]['chunks']:,} chunks: "
               + ", ".join(f"{r['mode']} p50 {r['search']['total']['p50']} ms" for r in largest) + ".")]
    if any("e5_estimate" in r for r in result["sizes"]):
        pool = result["sizes"][0]["e5_estimate"]["pool"]
        lines += ["", "## e5-small at these sizes (estimate), ms", "",
                  (f"e5-small embeds ~2-3 chunks/s per core, so its index is built to 10k only (bench/results/scale-e5-small-10k.md). "
                  f"Here, per question on this {result['dim']}-d {result['embedder']} index: e5-small's query embedding "
                  f"(measured) + a Chroma query for e5's pool of {pool} candidates (ids, metadata, distances, vectors) + the fusion with the hubness share + "
                  f"the registry lookup of the best k chunks' documents + the fetch of their texts (the Chroma column holds both Chroma calls). e5@size ~= e5 query embedding + Chroma@size; the index holds {result['dim']}-d "
                  f"vectors where e5's would be 384-d, so the Chroma share is if anything overstated. Hit building is not included."), "",
                  "| mode | chunks | estimate p50 | p95 | e5 query embedding p50 | Chroma query p50 | registry p50 | fusion p50 |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result["sizes"]:
            e = r["e5_estimate"]
            lines.append(f"| {r['mode']} | {r['chunks']:,} | {e['total']['p50']} | {e['total']['p95']} | {e['e5_embed']['p50']} | "
                         f"{e['chroma']['p50']} | {e['registry']['p50']} | {e['fusion']['p50']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="index sizes (chunks) to measure search at; the largest is ingested")
    parser.add_argument("--embedder", default="use", choices=["use", "e5-small", "e5-small+use"],
                        help="e5-small (the product default) and e5-small+use embed ~2-3 chunks/s per core")
    parser.add_argument("--mode", nargs="+", default=["embedded", "server"], choices=["embedded", "server"], help="embedded Chroma and/or a `chroma run` server")
    parser.add_argument("--queries", type=int, default=200, help="timed searches per size and mode")
    parser.add_argument("--workdir", type=Path, help="keep vectors and indexes here, so an interrupted run resumes (default: a temp dir, deleted)")
    parser.add_argument("--name", help="results name (default scale-<embedder>-<largest size>k)")
    parser.add_argument("--search-again", action="store_true",
                        help="only re-measure search on the largest index a run with the same --workdir and --name left")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the `chroma run` it started
    name = args.name or f"scale-{args.embedder}-{max(args.sizes) // 1000}k"
    if args.search_again:
        if not args.workdir:
            parser.error("--search-again needs the --workdir of the run that built the index")
        result = search_again(name, args.workdir, args.queries)
        print(save(name, result, markdown(result)).read_text())
        return
    with nullcontext() if args.workdir else tempfile.TemporaryDirectory() as tmp:
        result = run(args.sizes, args.embedder, args.mode, args.queries, args.workdir or Path(tmp))
    print(save(name, result, markdown(result)).read_text())


if __name__ == "__main__":
    main()
