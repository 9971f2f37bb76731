"""Citation verification: every sentence of a generated text is checked against the evidence it cites.

A small model mis-assigns citations and invents facts, so its output is never trusted as is: each
sentence is compared with its cited evidence (cross-lingual similarity, and the numbers it states must
appear in that evidence). A wrong citation is repaired when another evidence sentence supports the claim;
a sentence nothing supports is dropped (or kept and marked); citations are renumbered densely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.consistency import details_all_in, details_supported, gives_detail, stated_details
from rag.embeddings import support_part
from rag.evidence import Evidence, VectorCache
from rag.ingest.chunking import split_sentences

_MARKER = re.compile(r"\s*\[\s*(\d+(?:\s*[,;،]\s*\d+)*)\s*\]")


@dataclass
class Claim:
    """One sentence of a generated text with its citations before and after verification."""

    text: str  # without citation markers
    cited: list[int]  # evidence numbers the model gave
    citations: list[int] = field(default_factory=list)  # evidence numbers that support it (final numbering after renumber)
    support: float = 0.0  # best similarity to a supporting evidence sentence
    supported: bool = False
    note: str = ""  # "repaired", "unsupported", "numbers differ", ...


def parse_claims(text: str, language: str = "und") -> list[Claim]:
    """Split generated text into sentences and pull out their `[n]` / `[n, m]` markers."""
    claims = []
    for start, end in split_sentences(text, language):
        sentence = text[start:end]
        cited = [int(n) for group in _MARKER.findall(sentence) for n in re.split(r"\s*[,;،]\s*", group)]
        bare = _MARKER.sub("", sentence).strip()
        if bare.strip(" .;:!?؟،-–—") == "" and claims:  # a marker that split off its own line
            claims[-1].cited += [n for n in cited if n not in claims[-1].cited]
            continue
        if bare:
            claims.append(Claim(text=bare, cited=list(dict.fromkeys(cited))))
    return claims


_CLAUSE_BREAK = re.compile(r"\s*[,،;؛:–—]\s+|\s+[–—]\s*")
_MIN_CLAUSE_WORDS = 4
_LONG_SENTENCE_WORDS = 14


def evidence_views(text: str) -> list[str]:
    """The sentence, plus its clauses and pairs of adjacent clauses when it is long.

    A short claim that states one part of a long evidence sentence ("the bombing killed at least 94
    people") is diluted by the rest of it when compared with the whole sentence; comparing it with the
    clause that says it is what a reader does.
    """
    views = [text]
    if len(text.split()) < _LONG_SENTENCE_WORDS:
        return views
    clauses = [c for c in _CLAUSE_BREAK.split(text) if c.strip()]
    for i, clause in enumerate(clauses):
        for window in (clause, " ".join(clauses[i : i + 2]) if i + 1 < len(clauses) else ""):
            if len(window.split()) >= _MIN_CLAUSE_WORDS and window not in views:
                views.append(window)
    return views


def support_scores(claim_vectors: np.ndarray, evidence_texts: Sequence[str], cache: VectorCache) -> np.ndarray:
    """claims × evidence: the best cosine between each claim and any view of each evidence sentence."""
    views = [evidence_views(t) for t in evidence_texts]
    if not views:
        return np.zeros((len(claim_vectors), 0), dtype=np.float32)
    flat = support_part(cache.embedder, cache.passages([v for group in views for v in group]))
    similarity = support_part(cache.embedder, np.asarray(claim_vectors)) @ flat.T
    scores, start = [], 0
    for group in views:
        scores.append(similarity[:, start : start + len(group)].max(axis=1))
        start += len(group)
    return np.stack(scores, axis=1)


_WORD = re.compile(r"\w{4,}|\d+")
_TERSE_WORDS = 4


def echoes(claim: str, question: str) -> bool:
    """True when the claim adds no content word or number to the question ("What did Shoigu eat in
    Tehran?" → "Shoigu ate in Tehran [1]"): a restated question is not an answer, however similar to the
    evidence. "94" in answer to "How many died?" adds a number, so it is an answer."""
    asked = {w.casefold()[:5] for w in _WORD.findall(question)}
    return all(w.casefold()[:5] in asked for w in _WORD.findall(claim))


def with_question(question: str, claim: str) -> str:
    """How a terse claim is read: as the statement its question and it make together ("How many ...? 94")."""
    return f"{question} {claim}"


def is_terse(claim: str) -> bool:
    """A few words that state a checkable detail ("94", "Ali Shamkhani", "am Dienstag"). Such an answer
    means nothing alone, so it is compared with the evidence together with the question it answers, and
    its own numbers, dates and names must all be in the evidence (see `_supports`). Without a detail
    ("TOTAL PWNED VICTORY") the question would lend a claim a similarity it has not earned: judged alone."""
    return len(claim.split()) <= _TERSE_WORDS and stated_details(claim)


def verify_claims(
    claims: list[Claim],
    evidence: Sequence[Evidence],
    cache: VectorCache,
    threshold: float,
    *,
    keep_unsupported: bool = False,
    question: str = "",
) -> list[Claim]:
    """Check, repair or drop each claim; returns the kept claims (citations still in evidence numbering)."""
    if not claims:
        return []
    by_number = {ev.n: ev for ev in evidence}
    terse = [bool(question) and is_terse(c.text) for c in claims]
    claim_vectors = cache.embedder.embed_queries([with_question(question, c.text) if t else c.text for c, t in zip(claims, terse)])
    matrix = support_scores(claim_vectors, [ev.text for ev in evidence], cache)
    kept = []
    for claim, row, is_short in zip(claims, matrix, terse):
        scores = {ev.n: float(s) for ev, s in zip(evidence, row)}
        if question and echoes(claim.text, question):
            claim.citations, claim.supported, claim.note = claim.cited, False, "repeats the question"
        else:
            _judge(claim, scores, by_number, threshold, terse=is_short)
        if claim.supported or keep_unsupported:
            kept.append(claim)
    return kept


def gives_what_is_asked(asked: str | None, claims: Sequence[Claim], evidence: Sequence[Evidence]) -> bool:
    """True unless a number or a day is `asked` (consistency.asked_detail) and no supported claim states one
    (a day must also be in the evidence it cites). A model with no such detail in its evidence tends to write
    a true sentence around the question instead; that is not an answer (claims: evidence numbering)."""
    if asked is None:
        return True
    by_number = {ev.n: ev for ev in evidence}
    return any(
        claim.supported and gives_detail(asked, claim.text, [e.text for n in claim.citations if n in by_number
                                                             for e in _with_neighbours(n, by_number)])
        for claim in claims
    )


def _supports(n: int, claim: Claim, scores: dict[int, float], by_number: dict[int, Evidence], threshold: float,
              terse: bool = False) -> bool:
    if scores.get(n, 0.0) < threshold:
        return False
    around = [ev.text for ev in _with_neighbours(n, by_number)]
    return details_all_in(claim.text, around) if terse else details_supported(claim.text, around)


def _with_neighbours(n: int, by_number: dict[int, Evidence]) -> list[Evidence]:
    """The evidence sentence and the ones next to it in the same document (a number may sit there)."""
    ev = by_number[n]
    return [e for m in (n - 1, n, n + 1) if (e := by_number.get(m)) and e.doc_id == ev.doc_id]


def _judge(claim: Claim, scores: dict[int, float], by_number: dict[int, Evidence], threshold: float, terse: bool) -> None:
    valid = [n for n in claim.cited if n in by_number]
    good = [n for n in valid if _supports(n, claim, scores, by_number, threshold, terse)]
    if good:
        claim.citations, claim.supported = good, True
        claim.support = max(scores[n] for n in good)
        claim.note = "" if len(good) == len(claim.cited) else "dropped citations that do not support it"
        return
    ranked = sorted(scores, key=scores.get, reverse=True)
    repair = next((n for n in ranked if _supports(n, claim, scores, by_number, threshold, terse)), None)
    if repair is not None:
        claim.citations, claim.supported, claim.support = [repair], True, scores[repair]
        claim.note = "citation repaired" if claim.cited else "citation added"
        return
    claim.citations, claim.supported = valid, False
    claim.support = max((scores[n] for n in valid), default=max(scores.values(), default=0.0))
    numbers_only = any(scores.get(n, 0.0) >= threshold for n in valid)
    claim.note = "numbers or dates differ from the sources" if numbers_only else "not supported by the sources"


def renumber(claims: list[Claim], evidence: Sequence[Evidence]) -> list[Evidence]:
    """Renumber cited evidence 1..m in order of first citation; returns the cited evidence, renumbered."""
    mapping: dict[int, int] = {}
    for claim in claims:
        for n in claim.citations:
            mapping.setdefault(n, len(mapping) + 1)
    by_number = {ev.n: ev for ev in evidence}
    cited = []
    for old, new in mapping.items():
        ev = by_number[old]
        cited.append(Evidence(**{**ev.__dict__, "n": new}))
    for claim in claims:
        claim.citations = [mapping[n] for n in claim.citations]
    return cited


def render(claims: Sequence[Claim]) -> str:
    """The verified text: each sentence followed by its markers; unsupported kept sentences flagged."""
    parts = []
    for claim in claims:
        markers = "".join(f"[{n}]" for n in claim.citations)
        flag = "" if claim.supported else " [unsupported]"
        text = claim.text
        end = len(text.rstrip(".!?。؟…"))
        parts.append(f"{text[:end]} {markers}{flag}{text[end:]}".replace("  ", " ") if markers or flag else text)
    return " ".join(parts)
