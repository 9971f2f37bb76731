"""Judges: does this evidence support this claim? The grounding metrics are only as good as the judge,
so every judge is scored on labelled claim/evidence pairs (judge_pairs.jsonl) before its verdicts count.

- OfflineJudge: cross-lingual embedding similarity AND rag.consistency's checks (numbers, weekdays and
  months, person names across scripts). Free, deterministic, runs in CI; blind to paraphrased negation.
- LLMJudge: asks the configured OpenAI-compatible chat endpoint, one claim at a time, and reads a yes/no
  verdict in any of several languages; replies it cannot read are counted, never guessed.

`calibrate` picks the OfflineJudge threshold on the `tune` pairs only and reports tune and heldout apart.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rag import consistency
from rag.cite import with_question
from rag.embeddings import Embedder
from rag.evidence import VectorCache
from rag.llm.client import ChatEndpoint, LLMError


@dataclass
class Verdict:
    supported: bool
    score: float  # similarity for the offline judge, 1/0 for the LLM judge
    reason: str


# rag.consistency's checks (Consistency.<check>_ok) -> how their entries in Consistency.missing start
CHECKS = {"numbers": "number ", "dates": "date ", "names": "name ", "negation": "negation"}


class OfflineJudge:
    """Supported = the claim is close to the evidence in meaning (cosine of e5 query/passage vectors, the
    best of each evidence text alone and of all of them joined) and passes the consistency `checks`."""

    def __init__(self, embedder: Embedder, threshold: float = 0.85, checks: Sequence[str] = tuple(CHECKS)) -> None:
        self.threshold = threshold
        self.checks = tuple(checks)
        self._embedder_name = embedder.name
        self._passages = VectorCache(embedder)
        self._queries: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return f"offline ({self._embedder_name} similarity{''.join(' + ' + c for c in self.checks)})"

    def similarity(self, claim: str, evidence_texts: Sequence[str]) -> float:
        texts = list(evidence_texts) + ([" ".join(evidence_texts)] if len(evidence_texts) > 1 else [])
        if not texts:
            return 0.0
        if claim not in self._queries:
            self._queries[claim] = self._passages.embedder.embed_queries([claim])[0]
        return float(np.max(self._passages.passages(texts) @ self._queries[claim]))

    def judge(self, claim: str, evidence_texts: Sequence[str], question: str = "") -> Verdict:
        """`question`: the one a terse claim ("94") answers; it is read with the claim, as the verifier
        reads it (rag.cite.is_terse), while the details checked stay the claim's own."""
        score = self.similarity(with_question(question, claim) if question else claim, evidence_texts)
        if score < self.threshold:
            return Verdict(False, score, f"similarity {score:.3f} < {self.threshold:.3f}")
        failed = _failed(consistency.check(claim, "\n".join(evidence_texts)), self.checks) if self.checks else []
        if failed:
            return Verdict(False, score, "not in the evidence: " + ", ".join(failed))
        return Verdict(True, score, f"similarity {score:.3f}")


def _failed(found: consistency.Consistency, checks: Sequence[str]) -> list[str]:
    """The missing details ("number 42", "name Patrushev") of the enabled checks."""
    prefixes = tuple(CHECKS[c] for c in checks if not getattr(found, f"{c}_ok"))
    return [m for m in found.missing if m.startswith(prefixes)] if prefixes else []


_JUDGE_PROMPT = """You check facts. Does the EVIDENCE support the CLAIM? The two may be in different languages.
The claim is supported only if the evidence states everything in it (names, numbers, dates, who did what).
Answer with one word: yes or no.

EVIDENCE:
{evidence}

{question}CLAIM: {claim}"""
_YES = {"yes", "oui", "ja", "نعم", "sí", "si", "да", "supported", "true", "correct", "evet", "sim"}
_NO = {"no", "non", "nein", "لا", "нет", "unsupported", "false", "incorrect", "hayır", "não", "nao"}
_NOT_SUPPORTED = re.compile(r"\b(?:not|non|nicht|no)[\s_-]+(?:supported|support[ée]|gestützt|belegt)\b", re.I)
_WORD = re.compile(r"[^\W\d_]+")


def parse_verdict(text: str) -> bool | None:
    """yes/no in en/fr/de/ar/es/ru/tr/pt, "(un)supported", true/false, or JSON {"supported": bool};
    the first word decides, else the only polarity present; None when nothing or both are there."""
    match = re.search(r"\{.*\}", text, re.S)
    if match:
        try:
            data = json.loads(match.group())
        except ValueError:
            data = None
        value = data.get("supported", data.get("verdict")) if isinstance(data, dict) else None
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value
    if _NOT_SUPPORTED.search(text):
        return False
    words = [w.casefold() for w in _WORD.findall(text)]
    if words and (words[0] in _YES or words[0] in _NO):
        return words[0] in _YES
    polarities = {w in _YES for w in words if w in _YES or w in _NO}
    return polarities.pop() if len(polarities) == 1 else None


class LLMJudge:
    """One chat request per claim; `unparseable` counts replies (or failures) that gave no verdict."""

    def __init__(self, chat: ChatEndpoint) -> None:
        self.chat = chat
        self.name = f"llm ({chat.model})"
        self.threshold = None
        self.unparseable = 0
        self.calls = 0
        self._memo: dict[tuple[str, tuple[str, ...], str], Verdict] = {}

    def judge(self, claim: str, evidence_texts: Sequence[str], question: str = "") -> Verdict:
        key = (claim, tuple(evidence_texts), question)
        if key not in self._memo:
            self._memo[key] = self._ask(claim, evidence_texts, question)
        return self._memo[key]

    def _ask(self, claim: str, evidence_texts: Sequence[str], question: str) -> Verdict:
        evidence = "\n".join(f"- {' '.join(t.split())}" for t in evidence_texts) or "(none)"
        asked = f"QUESTION (the claim is an answer to it): {question}\n" if question else ""
        messages = [{"role": "user", "content": _JUDGE_PROMPT.format(evidence=evidence, question=asked, claim=claim)}]
        self.calls += 1
        try:
            reply = self.chat.complete(messages, max_tokens=12, temperature=0.0)
        except LLMError as exc:
            self.unparseable += 1
            return Verdict(False, 0.0, f"no verdict: {exc}")
        verdict = parse_verdict(reply)
        if verdict is None:
            self.unparseable += 1
            return Verdict(False, 0.0, f"unparseable reply: {reply.strip()[:80]!r}")
        return Verdict(verdict, float(verdict), f"model said {reply.strip()[:40]!r}")


def scores(labels: Sequence[bool], predicted: Sequence[bool]) -> dict:
    """Accuracy, precision, recall and F1 of `predicted` against `labels` (positive = supported)."""
    tp = sum(1 for y, p in zip(labels, predicted) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted) if y and not p)
    n = len(labels)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": n,
        "accuracy": (n - fp - fn) / n if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }


def _tune_offline(judge: OfflineJudge, pairs: list[dict]) -> list[dict]:
    """Set judge.checks and judge.threshold to the best subset/threshold on the tune pairs."""
    sims = [judge.similarity(p["claim"], [p["evidence"]]) for p in pairs]
    found = [consistency.check(p["claim"], p["evidence"]) for p in pairs]
    labels = [p["supported"] for p in pairs]
    tune = [i for i, p in enumerate(pairs) if p["split"] == "tune"]
    rows = []
    for size in range(len(CHECKS) + 1):
        for subset in itertools.combinations(CHECKS, size):
            ok = [all(getattr(f, f"{c}_ok") for c in subset) for f in found]
            cut = _best_threshold([sims[i] for i in tune], [ok[i] for i in tune], [labels[i] for i in tune])
            row = {"checks": list(subset), "threshold": cut}
            for split in ("tune", "heldout"):
                chosen = [i for i, p in enumerate(pairs) if p["split"] == split]
                row[split] = scores([labels[i] for i in chosen], [sims[i] >= cut and ok[i] for i in chosen])
            rows.append(row)
    if tune:
        best = max(rows, key=lambda r: (r["tune"]["accuracy"], r["tune"]["f1"], len(r["checks"])))
        judge.checks, judge.threshold = tuple(best["checks"]), best["threshold"]
    return rows


def _best_threshold(similarities: Sequence[float], consistent: Sequence[bool], labels: Sequence[bool]) -> float:
    """The cut between two observed similarities with the best tune accuracy (ties: the higher F1, then
    the stricter cut, since a judge that says "supported" too easily flatters every grounding metric)."""
    values = sorted(set(similarities))
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6] if values else [0.0]

    def quality(cut: float) -> tuple[float, float, float]:
        found = scores(labels, [s >= cut and c for s, c in zip(similarities, consistent)])
        return found["accuracy"], found["f1"], cut

    return max(cuts, key=quality)


def calibrate(judge, pairs: Iterable[dict]) -> dict:
    """Score `judge` on labelled pairs. An OfflineJudge is first tuned on the tune split only: every
    subset of the consistency checks, each with its best similarity threshold, and the most accurate
    is kept (so a check that hurts more than it helps is dropped, visibly).

    Returns {"judge", "threshold", "tune": scores, "heldout": scores, "by_kind": {kind: scores on both
    splits}, "pairs": [per-pair verdicts]}; the offline judge adds "ablation" (each check subset with its
    threshold and tune/heldout scores), the LLM judge the number of replies it could not read.
    """
    pairs = list(pairs)
    report: dict = {}
    if isinstance(judge, OfflineJudge):
        report["ablation"] = _tune_offline(judge, pairs)
    verdicts = [judge.judge(p["claim"], [p["evidence"]]) for p in pairs]
    report = {"judge": judge.name, "threshold": judge.threshold, **report}
    for split in ("tune", "heldout"):
        chosen = [(p, v) for p, v in zip(pairs, verdicts) if p["split"] == split]
        report[split] = scores([p["supported"] for p, _ in chosen], [v.supported for _, v in chosen])
    report["by_kind"] = {
        kind: scores([p["supported"] for p, _ in group], [v.supported for _, v in group])
        for kind in sorted({p.get("kind", "") for p in pairs})
        if (group := [(p, v) for p, v in zip(pairs, verdicts) if p.get("kind", "") == kind])
    }
    if isinstance(judge, LLMJudge):
        report["unparseable"] = judge.unparseable
    report["pairs"] = [
        {"id": p["id"], "split": p["split"], "kind": p.get("kind", ""), "supported": p["supported"],
         "verdict": v.supported, "score": round(v.score, 4), "reason": v.reason}
        for p, v in zip(pairs, verdicts)
    ]
    return report
