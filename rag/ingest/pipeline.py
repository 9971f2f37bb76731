"""Incremental, idempotent, crash-safe ingestion of a folder of articles.

Files are keyed by absolute path and versioned by a hash of their bytes, their sidecar metadata and the
chunking settings: unchanged files are skipped, changed ones replaced, vanished ones pruned on request.
Chunks of several documents are embedded together (embedders are much faster on batches) and each
document is then committed on its own, so an interruption loses at most the batch in flight.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rag import fusion
from rag.documents import Chunk, Document
from rag.embeddings import Embedder
from rag.ingest.chunking import chunk_document, short_units
from rag.ingest.clean import clean_text, find_date, guess_title
from rag.ingest.language import detect_language
from rag.ingest.loaders import LoadError, load_bytes, read_source, sidecar_bytes
from rag.injection import count_instructions
from rag.store import EmbeddedDocument, VectorStore

PIPELINE_VERSION = "3"  # bump when cleaning or chunking changes so every document is rebuilt

ProgressFn = Callable[[int, int, str], None]


@dataclass
class FileOutcome:
    """What happened to one file, with the reason a user needs when it was not ingested."""

    path: str
    status: str  # added | updated | unchanged | failed | skipped | removed
    reason: str = ""
    chunks: int = 0
    language: str = ""
    warning: str = ""


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    removed_uncommitted: int = 0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def chunks_written(self) -> int:
        return sum(o.chunks for o in self.outcomes if o.status in ("added", "updated"))


@dataclass
class _Prepared:
    doc: Document
    chunks: list[Chunk]
    outcome: FileOutcome


def doc_id_for(path: Path) -> str:
    """Readable and stable: the file stem plus a hash of the absolute path."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.")[:40] or "doc"
    return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"


def discover(paths: Iterable[Path], extensions: Iterable[str]) -> tuple[list[Path], list[FileOutcome]]:
    """Files to ingest below `paths`, plus outcomes for what was passed over and why."""
    exts = {e.lower() for e in extensions}
    found: list[Path] = []
    passed: list[FileOutcome] = []
    for root in paths:
        root = Path(root).expanduser()
        if root.is_dir():
            base = root.resolve()
            for path in sorted(_walk(root)):
                _consider(path.absolute(), base, exts, found, passed, explicit=False)
        elif root.exists() or root.is_symlink():
            _consider(root.absolute(), root.absolute().parent, exts, found, passed, explicit=True)
        else:
            passed.append(FileOutcome(str(root), "failed", "no such file or folder"))
    return _one_per_file(found, passed), passed


def _walk(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):  # does not descend into symlinked folders
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (.git, editor swap files)
        if path.is_file() or path.is_symlink() or path.suffix:
            yield path  # a folder named like a file is reported rather than silently passed over


def _consider(path: Path, base: Path, exts: set[str], found: list, passed: list, explicit: bool) -> None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 in the name: it could not be stored or shown
        shown = os.fsencode(path).decode("utf-8", errors="replace")
        passed.append(FileOutcome(shown, "skipped", "file name is not valid UTF-8: rename the file"))
        return
    if path.name.endswith(".meta.yaml") and not explicit:
        return  # sidecars are read with their article
    reason = _symlink_problem(path, base) if path.is_symlink() else None
    if reason is None and path.is_dir():
        if path.suffix.lower() in exts:
            reason = "is a directory named like a file (its files are ingested)"
        else:
            return
    if reason is None and path.suffix.lower() not in exts:
        reason = f"unsupported type '{path.suffix or 'no extension'}'"
    if reason:
        passed.append(FileOutcome(str(path), "skipped", reason))
    else:
        found.append(path)


def _symlink_problem(link: Path, base: Path) -> str | None:
    """Why a symlink is not followed: broken, a loop, or pointing outside the folder being ingested
    (a link planted in a shared folder must not pull in ~/.ssh or /etc)."""
    try:
        target = Path(os.path.realpath(link, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return "broken symlink (its target does not exist)" if exc.errno == errno.ENOENT else f"cannot follow symlink: {exc.strerror}"
    return None if target.is_relative_to(base) else "symlink points outside the folder"


def _one_per_file(found: list[Path], passed: list[FileOutcome]) -> list[Path]:
    """Each real file once: a symlink to a file found under its own name too is reported, not indexed twice."""
    first: dict[str, Path] = {}
    for path in sorted(dict.fromkeys(found), key=Path.is_symlink):  # stable sort: real names before links
        kept = first.setdefault(os.path.realpath(path), path)
        if kept != path:
            passed.append(FileOutcome(str(path), "skipped", f"same file as {kept} (symlink)"))
    keep = set(first.values())
    return [path for path in dict.fromkeys(found) if path in keep]


def _version_hash(path: Path, raw: bytes, settings) -> str:
    digest = hashlib.sha256(raw)
    digest.update(sidecar_bytes(path))
    digest.update(f"|{PIPELINE_VERSION}|{settings.chunk.max_tokens}|{settings.chunk.overlap_sentences}".encode())
    if keeps_sentence_vectors(settings):
        digest.update(f"|sentence-vectors-{fusion.SENTENCE_TOKENS}".encode())
    return digest.hexdigest()


def keeps_sentence_vectors(settings) -> bool:
    """Whether chunks get sentence vectors: asked for, and the embedder's re-ranking uses them (rag/fusion.py)."""
    return settings.embedder.sentence_vectors and fusion.centred(settings.embedder.name)


def prepare_document(path: Path, data: bytes, content_hash: str, settings) -> tuple[Document, list[Chunk]]:
    """Load, clean, describe and chunk one file's bytes (LoadError explains a file that cannot be used)."""
    loaded = load_bytes(path, data)
    meta = loaded.meta
    text = clean_text(loaded.text)
    if not text.strip():
        raise LoadError("no text left after removing boilerplate")
    language = meta.get("language") or detect_language(text)
    doc = Document(
        doc_id=doc_id_for(path),
        path=str(path),
        text=text,
        title=meta.get("title") or loaded.title or guess_title(text),
        language=language,
        source=meta.get("source"),
        date=meta.get("date") or find_date(loaded.text),  # mastheads with the date are cleaned away
        content_hash=content_hash,
        extra={k: str(v) for k, v in meta.items() if k not in {"title", "language", "source", "date"}},
    )
    chunks = chunk_document(
        doc,
        max_tokens=settings.chunk.max_tokens,
        overlap_sentences=settings.chunk.overlap_sentences,
        detect_language=detect_language,
    )
    if not chunks:
        raise LoadError("no text left after removing boilerplate")
    doc.planted_instructions = count_instructions(loaded.text, loaded.hidden_text)
    return doc, chunks


def _coverage_warning(embedder: Embedder, languages: set[str]) -> str:
    if embedder.languages is None:
        return ""
    outside = sorted(lang for lang in languages if lang != "und" and lang not in embedder.languages)
    if not outside:
        return ""
    return f"language {', '.join(outside)} is not covered by the '{embedder.name}' embedder: retrieval will be poor (e5-small covers ~100 languages)"


def ingest(
    paths: Iterable[Path],
    settings,
    store: VectorStore,
    embedder: Embedder,
    *,
    prune: bool = False,
    reindex: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`; see the module docstring."""
    paths = [Path(p) for p in paths]
    report = IngestReport(removed_uncommitted=store.remove_uncommitted())
    committed = store.documents()
    by_path = {rec.path: rec for rec in committed.values()}
    files, passed = discover(paths, settings.ingest.extensions)
    report.outcomes.extend(passed)
    pending: list[_Prepared] = []
    max_bytes = int(settings.ingest.max_file_mb * 1024 * 1024)
    sentences = keeps_sentence_vectors(settings)
    try:
        for done, path in enumerate(files):
            if progress:
                progress(done, len(files), path.name)
            outcome = _prepare_one(path, settings, by_path, reindex, max_bytes, embedder, pending)
            if outcome is not None:
                report.outcomes.append(outcome)
            if sum(len(p.chunks) for p in pending) >= settings.embedder.batch_size:
                _flush(pending, store, embedder, report, sentences)
        _flush(pending, store, embedder, report, sentences)
        if progress:
            progress(len(files), len(files), "")
        if prune:
            report.outcomes.extend(_prune(paths, committed, store))
    except KeyboardInterrupt:
        report.interrupted = True
    return report


def _prepare_one(path, settings, by_path, reindex, max_bytes, embedder, pending) -> FileOutcome | None:
    key = str(path)
    try:
        data = read_source(path, max_bytes)
        content_hash = _version_hash(path, data, settings)
        previous = by_path.get(key)
        if previous and previous.content_hash == content_hash and not reindex:
            return FileOutcome(key, "unchanged", chunks=previous.chunks, language=previous.language)
        doc, chunks = prepare_document(path, data, content_hash, settings)
    except LoadError as exc:
        return FileOutcome(key, "failed", str(exc))
    except OSError as exc:
        return FileOutcome(key, "failed", f"cannot read: {exc.strerror or exc}")
    status = "updated" if key in by_path else "added"
    languages = {doc.language} | {c.language for c in chunks}
    outcome = FileOutcome(key, status, chunks=len(chunks), language=doc.language, warning=_coverage_warning(embedder, languages))
    pending.append(_Prepared(doc, chunks, outcome))
    return None


def _flush(pending: list[_Prepared], store: VectorStore, embedder: Embedder, report: IngestReport, sentences: bool) -> None:
    """Embed the pending documents' chunks (and, with `sentences`, their sentences) in one batch, then commit
    them together."""
    if not pending:
        return
    chunks = [c for p in pending for c in p.chunks]
    vectors = embedder.embed_passages([c.text for c in chunks])
    sentence_vectors = embed_sentences(embedder, chunks, vectors) if sentences else None
    batch, offset = [], 0
    for item in pending:
        end = offset + len(item.chunks)
        batch.append(EmbeddedDocument(item.doc, item.chunks, vectors[offset:end], None if sentence_vectors is None else sentence_vectors[offset:end]))
        offset = end
    replaced = {item.doc.doc_id for item in pending if item.outcome.status == "updated"}
    store.write_documents(batch, datetime.now(timezone.utc).isoformat(timespec="seconds"), replaced)
    report.outcomes.extend(item.outcome for item in pending)
    pending.clear()


def sentence_units(text: str, start: int, sentences: Sequence[tuple[int, int]]) -> list[str]:
    """What a chunk's sentence vectors are made of: its sentences (document offsets; `start` is the chunk's),
    those over fusion.SENTENCE_TOKENS cut at clause marks, then spaces. Units of comparable length, whatever
    a language's sentence habits: a chunk of one 200-token Arabic sentence would otherwise have no sentence to
    gain from, against chunks of five short ones (the best of more sentences is higher by chance)."""
    spans = [(s - start, e - start) for s, e in sentences]
    return [text[s:e] for s, e in short_units(text, spans, fusion.SENTENCE_TOKENS)]


def embed_sentences(embedder: Embedder, chunks: list[Chunk], chunk_vectors: np.ndarray) -> list[np.ndarray]:
    """One row per sentence unit for each chunk (`sentence_units`); a chunk that is one unit reuses its own vector."""
    texts = [sentence_units(c.text, c.start, c.sentences) for c in chunks]
    rows = embedder.embed_passages([t for group in texts if len(group) > 1 for t in group])
    out, offset = [], 0
    for i, group in enumerate(texts):
        if len(group) > 1:
            out.append(rows[offset : offset + len(group)])
            offset += len(group)
        else:
            out.append(chunk_vectors[i : i + 1])
    return out


def _prune(roots: list[Path], committed: dict, store: VectorStore) -> list[FileOutcome]:
    """Remove documents whose file vanished from one of the ingested folders."""
    folders = [r.absolute() for r in roots if r.is_dir()]
    removed = []
    for record in committed.values():
        path = Path(record.path)
        if any(path.is_relative_to(folder) for folder in folders) and not path.exists():
            store.delete_document(record.doc_id)
            removed.append(FileOutcome(record.path, "removed", "file no longer exists"))
    return removed
