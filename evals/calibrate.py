"""Calibrate the answer pipeline's two thresholds per embedder, on tune splits only, checked on held-out.

    python -m evals.calibrate [--embedders e5-small use e5-small+use]

- support threshold (rag/cite.py): the cosine (claim as query, best view of the evidence sentence as
  passage, see `evidence_views`) above which a claim
  counts as supported, together with number and date consistency; the most accurate threshold on the
  `tune` pairs of evals/datasets/judge_pairs.jsonl that keeps recall >= 0.9 there.
- relevance threshold (rag/answer.py): the best evidence score below which the pipeline abstains before
  calling the LLM; chosen on the `tune` gold questions so that unanswerable questions fall below it while
  answerable ones stay above (false abstentions cost more than a question the verifier can still reject).

Updates the run embedders' entries in evals/results/calibration.json and prints the table; the defaults in rag/embeddings.py are copied
from it by hand, so a change of data or embedder is a visible diff.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.cite import support_scores
from rag.config import Settings
from rag.consistency import details_supported
from rag.context import RagContext
from rag.evidence import VectorCache, select_evidence
from rag.ingest.pipeline import ingest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "evals" / "datasets"
OUT = ROOT / "evals" / "results" / "calibration.json"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATASETS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _best_threshold(scores: np.ndarray, labels: np.ndarray, weight_negative: float = 1.0, min_recall: float = 0.0) -> float:
    """Threshold maximising (weighted) accuracy among those keeping recall >= min_recall (positive when
    score >= threshold)."""
    candidates = [t for t in np.unique(np.round(scores, 3)) if np.mean(scores[labels] >= t) >= min_recall]

    def gain(t: float) -> float:
        predicted = scores >= t
        return float(np.sum(predicted & labels) + weight_negative * np.sum(~predicted & ~labels))

    return float(max(candidates, key=gain))


def _accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    predicted = scores >= threshold
    tp, tn = int(np.sum(predicted & labels)), int(np.sum(~predicted & ~labels))
    return {"accuracy": round((tp + tn) / len(labels), 3), "precision": round(tp / max(1, int(np.sum(predicted))), 3),
            "recall": round(tp / max(1, int(np.sum(labels))), 3), "n": len(labels)}


def judged_support(ctx: RagContext, pairs: list[dict]) -> np.ndarray:
    """Similarity with number and date consistency folded in (an inconsistency scores 0), as the verifier does."""
    cache = VectorCache(ctx.embedder)
    claims = ctx.embedder.embed_queries([p["claim"] for p in pairs])
    similarity = np.array([support_scores(claims[i : i + 1], [p["evidence"]], cache)[0, 0] for i, p in enumerate(pairs)])
    consistent = np.array([details_supported(p["claim"], [p["evidence"]]) for p in pairs])
    return np.where(consistent, similarity, 0.0)


def best_evidence_scores(ctx: RagContext, questions: list[dict]) -> np.ndarray:
    """The best evidence score the answer pipeline would see for each question."""
    cache = VectorCache(ctx.embedder)
    best = []
    for q in questions:
        vector = cache.query(q["question"])
        evidence = select_evidence(vector, ctx.store.query(vector, ctx.settings.answer.k), cache)
        best.append(max((ev.score for ev in evidence), default=0.0))
    return np.array(best)


def calibrate(embedder_name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RagContext(Settings(data_dir=Path(tmp), embedder={"name": embedder_name}))
        ingest([ROOT / "corpus", DATASETS / "injection_articles"], ctx.settings, ctx.store, ctx.embedder)
        pairs = _rows("judge_pairs.jsonl")
        gold = [q for q in _rows("gold_seed.jsonl") if q["type"] in ("single-source", "cross-source", "unanswerable")]
        result = {"embedder": embedder_name}
        # Support: recall >= 0.9 on tune, because a true sentence dropped costs the user an answer (and
        # false abstentions), while numbers/dates checks still catch the commonest false supports.
        for name, rows, scorer, label, weight, min_recall in (
            ("support", pairs, judged_support, lambda r: r["supported"], 1.0, 0.9),
            ("relevance", gold, best_evidence_scores, lambda r: r["type"] != "unanswerable", 0.5, 0.0),
        ):
            scores = scorer(ctx, rows)
            labels = np.array([bool(label(r)) for r in rows])
            tune = np.array([r["split"] == "tune" for r in rows])
            threshold = _best_threshold(scores[tune], labels[tune], weight, min_recall)
            result[name] = {"threshold": round(threshold, 3), "tune": _accuracy(scores[tune], labels[tune], threshold),
                            "heldout": _accuracy(scores[~tune], labels[~tune], threshold)}
        return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedders", nargs="+", default=["e5-small", "use", "e5-small+use"])
    args = parser.parse_args(argv)
    results = [calibrate(name) for name in args.embedders]
    kept = [r for r in (json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else []) if r["embedder"] not in args.embedders]
    OUT.parent.mkdir(parents=True, exist_ok=True)  # the embedders not run keep their last entry
    OUT.write_text(json.dumps(kept + results, indent=2) + "\n", encoding="utf-8")
    print("| embedder | threshold | value | tune acc / P / R | heldout acc / P / R |\n|---|---|---|---|---|")
    for r in results:
        for name in ("support", "relevance"):
            t, h = r[name]["tune"], r[name]["heldout"]
            print(f"| {r['embedder']} | {name} | {r[name]['threshold']} | {t['accuracy']} / {t['precision']} / {t['recall']} "
                  f"| {h['accuracy']} / {h['precision']} / {h['recall']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
