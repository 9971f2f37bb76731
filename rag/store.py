"""Chroma as the store: embedded PersistentClient or a `chroma run` server, chosen by settings.

Two collections per index: `<name>` holds chunk vectors, `<name>-docs` is the registry of committed
documents (one record per document, carrying its content hash). A document is written in three steps:
its new chunks (ids carry the content hash, so the committed version is never overwritten in place),
then its registry record (the commit point), then the removal of chunks of other versions. A crash at
any point leaves at most uncommitted chunks, which searches ignore and the next ingestion deletes, so
the index never shows a document half-written.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag import fusion
from rag.config import ChromaSettings, Settings
from rag.documents import Chunk, Document

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """Chroma is unreachable or the collection does not fit the settings; the message says what to do."""


@dataclass
class DocRecord:
    """A committed document as the registry holds it."""

    doc_id: str
    path: str
    content_hash: str
    title: str
    language: str
    source: str | None
    date: str | None
    chunks: int
    ingested_at: str
    text: str = ""
    planted_instructions: int = 0  # > 0: the document tries to instruct AI models (rag/injection.py)


@dataclass
class Hit:
    """One retrieved chunk with what a citation needs to point at its exact sentences."""

    chunk_id: str
    doc_id: str
    text: str
    score: float
    language: str
    title: str
    source: str | None
    date: str | None
    start: int
    end: int
    sentences: list[tuple[int, int]]  # offsets into the document's cleaned text
    path: str
    planted_instructions: int = 0  # of the whole document (rag/injection.py); absent from older indexes

    def sentence_texts(self) -> list[str]:
        """The chunk's sentences, cut from the chunk text by their document offsets."""
        return [self.text[s - self.start : e - self.start] for s, e in self.sentences]


_UNSET = {"source": "", "date": ""}  # Chroma metadata cannot hold None
_REGISTRY_VECTOR = [1.0]  # the registry is looked up by id only; Chroma still wants a vector
SENTENCE_VECTORS = "sentence_vectors"  # chunk metadata key: the chunk's sentence vectors, packed


@dataclass
class EmbeddedDocument:
    """A document version ready to commit: its chunks, their vectors and, when the embedder keeps them,
    each chunk's sentence vectors (one row per sentence, rag/fusion.py)."""

    doc: Document
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    sentence_vectors: Sequence[np.ndarray] | None = None


def pack_vectors(rows: np.ndarray) -> str:
    """Rows as float16 in base64: Chroma metadata holds strings, and half precision moves a cosine by < 1e-3."""
    return base64.b64encode(np.asarray(rows, dtype=np.float16).tobytes()).decode("ascii")


def unpack_vectors(packed: str, dim: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(packed), dtype=np.float16).astype(np.float32).reshape(-1, dim)


def date_key(date: str | None) -> int:
    """yyyymmdd as an int so Chroma can filter date ranges with $gte/$lte (0 = unknown)."""
    digits = (date or "").replace("-", "")[:8]
    return int(digits) if len(digits) == 8 and digits.isdigit() else 0


def _http_client(settings: Settings):
    import chromadb
    import httpx

    cfg = settings.chroma
    timeout = httpx.Timeout(cfg.timeout_s, connect=min(cfg.timeout_s, CONNECT_TIMEOUT_S))
    headers = {}
    if cfg.auth_token is not None:
        token = cfg.auth_token.get_secret_value()
        headers[cfg.auth_header] = f"Bearer {token}" if cfg.auth_header.lower() == "authorization" else token
    # chromadb's client has no timeout and already talks to the server while it is created: probe first,
    # so a server that accepts connections but never answers is an error, not a hang
    url = f"{'https' if cfg.ssl else 'http'}://{cfg.host}:{cfg.port}/api/v2/heartbeat"
    httpx.get(url, headers=headers, timeout=timeout).raise_for_status()
    client = chromadb.HttpClient(
        host=cfg.host,
        port=cfg.port,
        ssl=cfg.ssl,
        headers=headers,
        tenant=cfg.tenant,
        database=cfg.database,
        settings=chromadb.Settings(anonymized_telemetry=False),
    )
    session = getattr(getattr(client, "_server", None), "_session", None)  # chromadb's httpx.Client (FastAPI server API)
    if isinstance(session, httpx.Client):
        session.timeout = timeout
    else:
        log.warning("cannot set a timeout on this chromadb version's HTTP client: a hung Chroma server will block requests")
    return client


def _embedded_client(settings: Settings):
    import chromadb

    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(settings.chroma_path),
        tenant=settings.chroma.tenant,
        database=settings.chroma.database,
        settings=chromadb.Settings(anonymized_telemetry=False),
    )


CONNECT_TIMEOUT_S = 10.0
_CLIENTS: dict[str, Callable[[Settings], Any]] = {"embedded": _embedded_client, "http": _http_client}


def _transport_failure(exc: BaseException | None):
    """The network error (httpx) that caused `exc`, if any: chromadb raises some bare, wraps others."""
    import httpx

    while exc is not None and not isinstance(exc, httpx.TransportError):
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return exc


def _unreachable(cfg: ChromaSettings, exc: Exception) -> StoreError:
    """The error for a Chroma server that cannot be reached (down, wrong address, network): what, where,
    and what to do, without the HTTP library's exception text."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        reason = "timed out"
    else:  # "[Errno 111] Connection refused" -> "connection refused"
        reason = re.sub(r"^\[Errno -?\d+\]\s*", "", _short(exc)).rstrip(".").lower() or "connection lost"
    return StoreError(
        f"The Chroma server at {cfg.host}:{cfg.port} is unreachable ({reason}). Start it with "
        f"`chroma run --host {cfg.host} --port {cfg.port} --path DIR` or check RAG_CHROMA__HOST and RAG_CHROMA__PORT; "
        "a running app reconnects by itself once the server is back."
    )


def make_client(settings: Settings):
    """Connect to Chroma in the mode the settings imply, turning connection failures into StoreError."""
    cfg = settings.chroma
    try:
        client = _CLIENTS[cfg.mode](settings)
        client.heartbeat()
        return client
    except Exception as exc:
        if failure := _transport_failure(exc):
            raise _unreachable(cfg, failure) from None
        where = f"the Chroma server at {cfg.host}:{cfg.port}" if cfg.mode == "http" else f"embedded Chroma in {settings.chroma_path}"
        hint = (
            "Is `chroma run --host 127.0.0.1 --port N --path DIR` running, and are RAG_CHROMA__HOST/PORT, tenant, database and token right?"
            if cfg.mode == "http"
            else "Check that the data directory (RAG_DATA_DIR) is writable and not used by another Chroma version."
        )
        raise StoreError(f"Cannot open {where}: {type(exc).__name__}: {_short(exc)}. {hint}") from None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def _reconnecting(method):
    """Wrap a VectorStore operation for a Chroma server that comes and goes under a long-running app.

    The HTTP client reconnects by itself on the next request, so a server that is down only needs a
    readable StoreError. Collection handles go stale when the collection was rebuilt by another process
    (`rag ingest --reindex`) or the server came back on other data: they are reopened by name (with the
    embedder check) and the operation, idempotent like all of them, is retried once.
    """

    @functools.wraps(method)
    def run(self: VectorStore, *args, **kwargs):
        from chromadb.errors import NotFoundError

        try:
            try:
                return method(self, *args, **kwargs)
            except NotFoundError:
                self._open_collections()
                return method(self, *args, **kwargs)
        except Exception as exc:
            if failure := _transport_failure(exc):
                raise _unreachable(self.settings.chroma, failure) from None
            raise

    return run


class VectorStore:
    """Chunk vectors plus the registry of committed documents, for one embedder."""

    def __init__(self, client, settings: Settings, embedder_name: str, dim: int) -> None:
        self.client = client
        self.settings = settings
        self.name = settings.chroma.collection
        self.embedder_name = embedder_name
        self.dim = dim
        self._open_collections()
        self._max_batch = max(1, int(getattr(client, "get_max_batch_size", lambda: 1000)()))

    def _open_collections(self) -> None:
        chunks = self.client.get_or_create_collection(
            self.name,
            embedding_function=None,
            metadata={"embedder": self.embedder_name, "dim": self.dim},
            configuration={"hnsw": {"space": "cosine"}},
        )
        built_with = (chunks.metadata or {}).get("embedder")
        built_dim = (chunks.metadata or {}).get("dim")
        if built_with != self.embedder_name or built_dim != self.dim:
            raise StoreError(
                f"Collection '{self.name}' was built with embedder '{built_with}' ({built_dim} dims), "
                f"but the current embedder is '{self.embedder_name}' ({self.dim} dims). Either set "
                f"RAG_EMBEDDER__NAME={built_with}, choose another collection with RAG_CHROMA__COLLECTION, "
                f"or rebuild this one with `rag ingest --reindex PATHS`."
            )
        self.chunks = chunks  # only once it fits: a refused collection must not be queried on the next call
        self.registry = self.client.get_or_create_collection(f"{self.name}-docs", embedding_function=None)

    # -- reading ---------------------------------------------------------------------------------

    @_reconnecting
    def documents(self, with_text: bool = False) -> dict[str, DocRecord]:
        """Every committed document, by id."""
        include = ["metadatas", "documents"] if with_text else ["metadatas"]
        records = {}
        for ids, metas, docs in self._pages(self.registry, include):
            for i, doc_id in enumerate(ids):
                records[doc_id] = _record(doc_id, metas[i], docs[i] if docs else "")
        return records

    @_reconnecting
    def document(self, doc_id: str) -> DocRecord | None:
        got = self.registry.get(ids=[doc_id], include=["metadatas", "documents"])
        return _record(doc_id, got["metadatas"][0], got["documents"][0]) if got["ids"] else None

    @_reconnecting
    def count(self) -> int:
        return self.chunks.count()

    @_reconnecting
    def query(self, embedding: np.ndarray, k: int, where: dict | None = None, *, question: bool = True) -> list[Hit]:
        """Top-k committed chunks (uncommitted versions are filtered out).

        With e5-small (alone or inside the e5-small+use vector), a larger pool is re-ranked by
        language-centred similarity (rag/fusion.py), which stops passages in a language "close" to the
        question outranking the one that answers it. For a `question`, each candidate also pays a share of
        its hubness and gains its best sentence's lead over the whole chunk (when every candidate has
        sentence vectors), so the chunk holding the answering sentence wins over one merely close to many
        questions; `question=False` leaves both out, as a summary's broad topic wants the passages central
        to it. `Hit.score` stays the plain cosine, the scale the answer thresholds are calibrated on.
        Texts are fetched for the k kept chunks only, and only their documents are checked against the
        registry: at 100k chunks, texts for a pool of 60 cost 23 ms and the registry lookup of the pool's
        documents 29 ms, against ~3 ms each for k = 5 (bench/results/scale-*.md).
        """
        centred = fusion.centred(self.embedder_name)
        pool = max(fusion.POOL, 2 * k + 4) if centred else 2 * k + 4  # headroom for uncommitted chunks
        # no count() first: Chroma returns what there is when the pool is larger
        result = self.chunks.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32).tolist()],
            n_results=pool,
            where=where or None,
            include=["metadatas", "distances"] + (["embeddings"] if centred and question else []),
        )
        ranked = [(i, m, 1.0 - float(d)) for i, m, d in zip(result["ids"][0], result["metadatas"][0], result["distances"][0])]
        if centred and ranked:
            vectors = np.asarray(result["embeddings"][0], dtype=np.float32) if question else None
            packed = [m.get(SENTENCE_VECTORS) for _, m, _ in ranked]
            sentences = None
            if question and all(packed):
                sentences = fusion.best_sentence_cosines(embedding, [unpack_vectors(p, self.dim) for p in packed])
            scores = fusion.fuse(embedding, [c for _, _, c in ranked], [m["language"] for _, m, _ in ranked], self.embedder_name,
                                 passage_vectors=vectors, sentence_cosines=sentences)
            ranked = [ranked[i] for i in np.argsort(-scores, kind="stable")]
        kept, start = [], 0
        while len(kept) < k and start < len(ranked):
            window = ranked[start : start + k - len(kept)]
            start += len(window)
            committed = self._committed_hashes({m["doc_id"] for _, m, _ in window})
            kept += [c for c in window if committed.get(c[1]["doc_id"]) == c[1]["content_hash"]]
        texts = self._texts([chunk_id for chunk_id, _, _ in kept])
        return [_hit(chunk_id, meta, texts[chunk_id], score) for chunk_id, meta, score in kept if chunk_id in texts]

    def _texts(self, chunk_ids: list[str]) -> dict[str, str]:
        """Chunk id -> text (a chunk deleted meanwhile, by a re-ingest, is absent)."""
        if not chunk_ids:
            return {}
        got = self.chunks.get(ids=chunk_ids, include=["documents"])
        return dict(zip(got["ids"], got["documents"]))

    @_reconnecting
    def document_chunks(self, doc_id: str) -> list[Hit]:
        """All committed chunks of one document in reading order (for summaries and the UI)."""
        record = self.document(doc_id)
        if record is None:
            return []
        got = self.chunks.get(
            where={"$and": [{"doc_id": doc_id}, {"content_hash": record.content_hash}]},
            include=["metadatas", "documents"],
        )
        hits = [_hit(i, m, t, 1.0) for i, m, t in zip(got["ids"], got["metadatas"], got["documents"])]
        return sorted(hits, key=lambda h: h.start)

    def _committed_hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(doc_ids)
        if not ids:
            return {}
        got = self.registry.get(ids=ids, include=["metadatas"])
        return {i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"])}

    def _pages(self, collection, include: list[str], where: dict | None = None) -> Iterator[tuple]:
        offset, page = 0, 5000
        while True:
            got = collection.get(include=include, where=where, limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got.get("metadatas") or [], got.get("documents") or []
            offset += len(got["ids"])

    # -- writing ---------------------------------------------------------------------------------

    @_reconnecting
    def write_documents(self, batch: Sequence[EmbeddedDocument], ingested_at: str, replaced: set[str]) -> None:
        """Commit new document versions in the crash-safe order described in the module doc.

        One call per step for the whole batch (Chroma writes cost ~20 ms each); `replaced` names the
        documents that had an earlier version whose chunks must go once the new one is committed. A chunk's
        sentence vectors travel in its own metadata, so they are written and removed with it.
        """
        ids, vectors, texts, metas = [], [], [], []
        for item in batch:
            doc, chunks = item.doc, item.chunks
            ids += [c.chunk_id(doc.content_hash) for c in chunks]
            vectors += np.asarray(item.vectors, dtype=np.float32).tolist()
            texts += [c.text for c in chunks]
            chunk_metas = [_chunk_meta(doc, c) for c in chunks]
            for meta, rows in zip(chunk_metas, item.sentence_vectors or []):
                meta[SENTENCE_VECTORS] = pack_vectors(rows)
            metas += chunk_metas
        for start in range(0, len(ids), self._max_batch):
            stop = start + self._max_batch
            self.chunks.upsert(ids=ids[start:stop], embeddings=vectors[start:stop], documents=texts[start:stop], metadatas=metas[start:stop])
        self.registry.upsert(
            ids=[item.doc.doc_id for item in batch],
            embeddings=[_REGISTRY_VECTOR] * len(batch),
            documents=[item.doc.text for item in batch],
            metadatas=[_registry_meta(item.doc, len(item.chunks), ingested_at) for item in batch],
        )
        for item in batch:
            if item.doc.doc_id in replaced:
                self.chunks.delete(where={"$and": [{"doc_id": item.doc.doc_id}, {"content_hash": {"$ne": item.doc.content_hash}}]})

    @_reconnecting
    def delete_document(self, doc_id: str) -> None:
        """Uncommit first, then remove the chunks: a crash in between leaves only ignorable chunks."""
        self.registry.delete(ids=[doc_id])
        self.chunks.delete(where={"doc_id": doc_id})

    @_reconnecting
    def remove_uncommitted(self) -> int:
        """Delete chunks no committed document owns (left by an interrupted ingestion).

        Chunk ids name their document and version (`Chunk.chunk_id`), so only ids are read: metadata,
        with its sentence vectors, would be ~5 KB per chunk."""
        committed = {doc_id: rec.content_hash[:12] for doc_id, rec in self.documents().items()}
        stale = []
        for ids, _, _ in self._pages(self.chunks, []):
            for chunk_id in ids:
                doc_id, _, rest = chunk_id.partition(":")  # "<doc_id>:<hash[:12]>:<index>"
                if committed.get(doc_id) != rest.partition(":")[0]:
                    stale.append(chunk_id)
        for start in range(0, len(stale), self._max_batch):
            self.chunks.delete(ids=stale[start : start + self._max_batch])
        return len(stale)


def _chunk_meta(doc: Document, chunk: Chunk) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id,
        "content_hash": doc.content_hash,
        "chunk_index": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
        "sentences": json.dumps(chunk.sentences),
        "language": chunk.language,
        "doc_language": doc.language,
        "title": doc.title,
        "source": doc.source or _UNSET["source"],
        "date": doc.date or _UNSET["date"],
        "date_key": date_key(doc.date),
        "path": doc.path,
        "token_count": chunk.token_count,
        "planted_instructions": doc.planted_instructions,
    }


def _registry_meta(doc: Document, n_chunks: int, ingested_at: str) -> dict[str, Any]:
    return {
        "path": doc.path,
        "content_hash": doc.content_hash,
        "title": doc.title,
        "language": doc.language,
        "source": doc.source or _UNSET["source"],
        "date": doc.date or _UNSET["date"],
        "chunks": n_chunks,
        "ingested_at": ingested_at,
        "planted_instructions": doc.planted_instructions,
    }


def _record(doc_id: str, meta: dict[str, Any], text: str | None) -> DocRecord:
    return DocRecord(
        doc_id=doc_id,
        path=meta["path"],
        content_hash=meta["content_hash"],
        title=meta["title"],
        language=meta["language"],
        source=meta.get("source") or None,
        date=meta.get("date") or None,
        chunks=int(meta["chunks"]),
        ingested_at=meta["ingested_at"],
        text=text or "",
        planted_instructions=int(meta.get("planted_instructions", 0)),
    )


def _hit(chunk_id: str, meta: dict[str, Any], text: str, score: float) -> Hit:
    return Hit(
        chunk_id=chunk_id,
        doc_id=meta["doc_id"],
        text=text,
        score=score,
        language=meta["language"],
        title=meta["title"],
        source=meta.get("source") or None,
        date=meta.get("date") or None,
        start=int(meta["start"]),
        end=int(meta["end"]),
        sentences=[tuple(s) for s in json.loads(meta["sentences"])],
        path=meta["path"],
        planted_instructions=int(meta.get("planted_instructions", 0)),
    )


def drop_collections(settings: Settings) -> None:
    """Delete the configured index (chunks and registry), e.g. to rebuild it with another embedder."""
    client = make_client(settings)
    for name in (settings.chroma.collection, f"{settings.chroma.collection}-docs"):
        try:
            client.delete_collection(name)
        except Exception:  # already gone
            pass


def open_store(settings: Settings, embedder_name: str, dim: int) -> VectorStore:
    """Open (creating if needed) the configured collection for this embedder."""
    client = make_client(settings)
    try:
        return VectorStore(client, settings, embedder_name, dim)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"Cannot open collection '{settings.chroma.collection}': {type(exc).__name__}: {_short(exc)}") from None
