"""What the sentence vectors in chunk metadata cost a search's Chroma query, measured in one run.

    python -m bench.sentence_payload --workdir /tmp/scale-e5     # the index `bench.scale --embedder e5-small` left there

Chunks keep their sentences' vectors in their metadata (rag/store.py, ~5 KB each), and a question's pool
query returns the 40 candidates' metadata, so every search carries them. This copies the chunk collection of
each Chroma mode's index without them (same ids, vectors, texts and other metadata, in the same Chroma) and
runs the same pool query for the same questions on both, in turns with alternating order: the paired
difference is the payload's cost. It does not depend on the index size (the 40 records are fetched by id),
so it carries over to bench.scale's 100k estimate, whose index has no sentence vectors.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from bench.common import ChromaServer, load_average, save
from bench.scale import WARMUP, questions_mix
from rag import fusion
from rag.config import Settings
from rag.context import RagContext
from rag.store import SENTENCE_VECTORS

COPY = "bench-without-sentence-vectors"


def _copy_without_sentence_vectors(store) -> object:
    if COPY in {c.name for c in store.client.list_collections()}:  # left by an interrupted run
        store.client.delete_collection(COPY)
    plain = store.client.create_collection(COPY, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    offset = 0
    while True:
        got = store.chunks.get(include=["metadatas", "documents", "embeddings"], limit=1000, offset=offset)
        if not got["ids"]:
            return plain
        metas = [{k: v for k, v in m.items() if k != SENTENCE_VECTORS} for m in got["metadatas"]]
        plain.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=metas)
        offset += len(got["ids"])


def measure(mode: str, workdir: Path, queries: int) -> dict:
    root = workdir / mode
    server = ChromaServer(root / "chroma-server") if mode == "server" else None
    with server or nullcontext():
        settings = Settings(data_dir=root / "data", embedder={"name": fusion.EMBEDDER},
                            chroma={"host": server.host, "port": server.port} if server else {})
        ctx = RagContext(settings)
        store = ctx.store
        chunks = store.count()
        if not store.chunks.get(limit=1, include=["metadatas"])["metadatas"][0].get(SENTENCE_VECTORS):
            raise SystemExit(f"{root}: its chunks have no sentence vectors; build it with `python -m bench.scale --embedder e5-small`")
        plain = _copy_without_sentence_vectors(store)
        vectors = ctx.embedder.embed_queries(questions_mix(WARMUP + queries))
        laps: dict[str, list[float]] = {"with": [], "without": []}
        try:
            for i, vector in enumerate(vectors):
                turns = [("with", store.chunks), ("without", plain)]
                for name, collection in turns if i % 2 == 0 else reversed(turns):
                    started = time.perf_counter()
                    collection.query(query_embeddings=[vector.tolist()], n_results=fusion.POOL, include=["metadatas", "distances", "embeddings"])
                    laps[name].append((time.perf_counter() - started) * 1000)
        finally:
            store.client.delete_collection(COPY)
    timed = {name: np.array(values[WARMUP:]) for name, values in laps.items()}
    difference = timed["with"] - timed["without"]
    return {"mode": mode, "chunks": chunks, "queries": queries,
            **{name: {"p50": round(float(np.percentile(v, 50)), 2), "p95": round(float(np.percentile(v, 95)), 2)} for name, v in timed.items()},
            "paired_difference": {"p50": round(float(np.percentile(difference, 50)), 2), "mean": round(float(difference.mean()), 2)}}


def markdown(result: dict) -> str:
    lines = ["# Sentence vectors in chunk metadata: their cost per pool query", "",
             (f"{result['queries']} questions (XQuAD, 12 languages) after {WARMUP} warm-up ones; each asks Chroma for its "
              f"{fusion.POOL}-candidate pool (metadata, distances, vectors) on the index and on a copy without sentence vectors, "
              f"in turns. Load {result['load_start']} -> {result['load_end']}."), "",
             "| mode | chunks | with p50 / p95 ms | without p50 / p95 ms | paired difference p50 / mean ms |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['mode']} | {r['chunks']:,} | {r['with']['p50']} / {r['with']['p95']} | {r['without']['p50']} / "
                     f"{r['without']['p95']} | {r['paired_difference']['p50']} / {r['paired_difference']['mean']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="the --workdir of a `bench.scale --embedder e5-small` run")
    parser.add_argument("--mode", nargs="+", default=["embedded", "server"], choices=["embedded", "server"])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    load_start = load_average()
    rows = [measure(mode, args.workdir, args.queries) for mode in args.mode]
    result = {"queries": args.queries, "rows": rows, "load_start": load_start, "load_end": load_average()}
    print(save("sentence-payload", result, markdown(result)).read_text())


if __name__ == "__main__":
    main()
