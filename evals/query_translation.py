"""Does translating the question with the LLM help cross-lingual retrieval enough to pay for itself?

    python -m evals.query_translation [--questions 40] [--llm local]

On XQuAD's de-ar setting (every paragraph indexed once, in German or Arabic; English questions), a spread
sample of HELD-OUT questions (articles 22-31) is translated into German and Arabic with
`rag.retrieve.translate_query`; the original and the translations are each scored like the product scores
them (e5-small, language-centred, `rag.fusion`), and the rankings are merged with
`rag.retrieve.fuse_rankings` (reciprocal-rank fusion) or by the best centred score per passage. Reported next
to the product's single-query ranking on the same questions, with the seconds each translation costs.
Translations are cached in the output JSON, so a rerun only pays for new questions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from evals.retrieval import METHODS, Bench, build_setting, metrics, ranks

OUT = Path("evals/results/retrieval/query-translation.json")
LANGUAGES = ("de", "ar")


def _centred(bench: Bench, setting, texts: list[str]) -> np.ndarray:
    """The product's re-scored ranking for each text over the setting's passages (rows: texts)."""
    from rag import fusion

    passages = bench.passages("e5-small", [p.text for p in setting.passages])
    queries = bench.queries("e5-small", texts)
    languages = np.array([p.language for p in setting.passages])
    out = np.full((len(texts), len(setting.passages)), -np.inf, dtype=np.float32)
    for i, row in enumerate(queries @ passages.T):
        pool = np.argsort(-row)[: fusion.POOL]
        out[i, pool] = fusion.fuse(queries[i], row[pool], languages[pool])
    return out


def _rrf(score_rows: list[np.ndarray]) -> np.ndarray:
    from rag.retrieve import RRF_K

    fused = np.zeros_like(score_rows[0])
    for row in score_rows:
        order = np.argsort(-row)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        fused += np.where(np.isfinite(row), 1.0 / (RRF_K + rank + 1), 0.0)
    return fused


def run(count: int, llm: str, out: Path = OUT) -> dict:
    from rag.config import load_settings
    from rag.llm.client import make_chat_client
    from rag.retrieve import translate_query

    setting = build_setting("de-ar")
    held_out = [q for q in setting.questions if q.article >= 22]
    step = max(1, len(held_out) // count)
    sample = held_out[::step][:count]
    cached = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    translations: dict[str, dict[str, str]] = cached.get("translations", {})
    seconds: list[float] = cached.get("seconds_per_translation", [])
    settings = load_settings()
    chat = make_chat_client(settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": llm})}))
    for n, question in enumerate(sample, 1):
        for lang in LANGUAGES:
            if lang not in translations.get(question.qid, {}):
                started = time.perf_counter()
                translations.setdefault(question.qid, {})[lang] = translate_query(chat, question.text, lang)
                seconds.append(round(time.perf_counter() - started, 2))
        print(f"\r{n}/{len(sample)} questions translated", end="", flush=True)
    print()

    bench = Bench(Path("evals/results/retrieval/cache"))
    sub = type(setting)(setting.name, setting.passages, tuple(sample))
    original = METHODS["e5-centred"](bench, setting)[[setting.questions.index(q) for q in sample]]
    per_language = {lang: _centred(bench, setting, [translations[q.qid][lang] for q in sample]) for lang in LANGUAGES}
    rows = [original, *per_language.values()]
    variants = {
        "product (e5 centred, original question)": original,
        **{f"translation into {lang} alone": scores for lang, scores in per_language.items()},
        "original + translations, reciprocal-rank fusion": np.stack([_rrf([r[i] for r in rows]) for i in range(len(sample))]),
        "original + translations, best centred score": np.maximum.reduce(rows),
    }
    result = {
        "setting": "de-ar", "questions": len(sample), "llm": llm, "languages": list(LANGUAGES),
        "median_seconds_per_translation": statistics.median(seconds) if seconds else None,
        "load_average": os.getloadavg(),
        "results": {name: metrics(ranks(scores, sub)) for name, scores in variants.items()},
        "translations": translations, "seconds_per_translation": seconds,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=40, help="held-out questions to translate (spread over articles 22-31)")
    parser.add_argument("--llm", default="local", choices=["local", "openai"], help="who translates")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    result = run(args.questions, args.llm, args.out)
    print(f"{result['questions']} held-out questions, de-ar, {result['median_seconds_per_translation']} s per translation "
          f"({len(LANGUAGES)} per question)")
    for name, m in result["results"].items():
        print(f"  {name:52s} hit@1 {m['hit@1']:.3f}  hit@5 {m['hit@5']:.3f}  MRR {m['mrr']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
