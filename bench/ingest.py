"""Ingestion throughput: the whole pipeline versus the raw embedder alone on the same chunks, in one run.

    python -m bench.ingest [--docs 120] [--embedder e5-small e5-small+use use]

Target (foundation issue): the pipeline (load, clean, detect language, chunk, embed, write to Chroma)
costs at most 25% more time than embedding its chunks alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import save, write_passages
from rag.config import Settings
from rag.context import RagContext
from rag.ingest.pipeline import ingest


def _raw_embedding_seconds(embedder, chunks: list[str], batch_size: int) -> float:
    """The embedder alone on the same chunks, in the pipeline's batch size (best of two runs, so a
    busy machine penalises neither side more than the other)."""
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        for i in range(0, len(chunks), batch_size):
            embedder.embed_passages(chunks[i : i + batch_size])
        timings.append(time.perf_counter() - started)
    return min(timings)


def run(docs: int, embedder: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_passages(root / "articles", docs)
        ctx = RagContext(Settings(data_dir=root / "data", embedder={"name": embedder}))
        ctx.embedder.embed_passages(["warm-up"])  # model load is not part of either timing
        started = time.perf_counter()
        report = ingest([root / "articles"], ctx.settings, ctx.store, ctx.embedder)
        pipeline_s = time.perf_counter() - started
        chunks = ctx.store.chunks.get(include=["documents"])["documents"]
        embed_s = _raw_embedding_seconds(ctx.embedder, chunks, ctx.settings.embedder.batch_size)
    return {
        "embedder": embedder,
        "documents": report.count("added"),
        "chunks": len(chunks),
        "pipeline_s": round(pipeline_s, 2),
        "raw_embedder_s": round(embed_s, 2),
        "documents_per_s": round(report.count("added") / pipeline_s, 2),
        "chunks_per_s": round(len(chunks) / pipeline_s, 2),
        "raw_chunks_per_s": round(len(chunks) / embed_s, 2),
        "pipeline_over_embedder": round(pipeline_s / embed_s, 3),
        "target_ratio": 1.25,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=120, help="XQuAD paragraphs to ingest (12 languages)")
    parser.add_argument("--embedder", nargs="+", default=["e5-small", "e5-small+use", "use"])
    args = parser.parse_args(argv)
    rows = [run(args.docs, name) for name in args.embedder]
    table = ["| embedder | docs | chunks | pipeline s | raw embedder s | chunks/s | ratio (target <= 1.25) |", "|---|---|---|---|---|---|---|"]
    table += [f"| {r['embedder']} | {r['documents']} | {r['chunks']} | {r['pipeline_s']} | {r['raw_embedder_s']} | {r['chunks_per_s']} | {r['pipeline_over_embedder']} |" for r in rows]
    print(save("ingest", {"runs": rows}, "# Ingestion benchmark\n\n" + "\n".join(table)).read_text())


if __name__ == "__main__":
    main()
