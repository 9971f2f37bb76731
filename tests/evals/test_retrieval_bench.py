"""Fast slices of the cross-lingual retrieval benchmark (evals/retrieval.py), embedding into a fresh cache.

1. English questions must find their paragraph among 20 paragraphs indexed in German or Arabic: USE clears
   the floor easily (hit@5 ~1.0); random vectors (~0.27) or questions paired with the wrong paragraph (~0.61)
   do not.
2. rag.fusion's language centring must lift e5-small's hit@1 for ar/de/ru/zh questions over the same 20
   paragraphs in 11 languages (raw ~0.48, centred ~0.78: raw e5 prefers passages in the question's language).
3. The e5-small+use embedder's one combined vector scores exactly as the measured e5 + USE fusion.
4. A passage close to every question (a hub) pays for it against one that is close to this question only.
"""

from __future__ import annotations

import json

import numpy as np

from evals import retrieval
from rag import fusion
from rag.embeddings import e5_use_rows
from tests.rag_fixtures import shared_embedder

FLOOR_HIT5 = 0.85


def test_de_ar_slice_finds_the_evidence(tmp_path):
    report = retrieval.run(["use"], ["de-ar"], out_dir=tmp_path, limit=20)

    overall = report["results"]["de-ar"]["use"]["all"]
    assert overall["n"] >= 90
    assert overall["hit@5"] >= FLOOR_HIT5, overall
    for language, metrics in overall["by_passage_language"].items():
        assert metrics["hit@5"] >= FLOOR_HIT5 - 0.1, (language, metrics)
    assert report["speed"]["use"]["passages_per_s"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["results"]["de-ar"]["use"]["all"] == overall
    assert (tmp_path / "results.md").read_text().count("| use |") >= 2
    assert (tmp_path / "results.png").stat().st_size > 0


def test_language_centring_beats_raw_e5_on_non_english_questions(tmp_path):
    bench = retrieval.Bench(tmp_path / "cache")
    setting = retrieval.build_setting("multi-query", limit=20)
    hit1 = {m: retrieval.evaluate(retrieval.METHODS[m](bench, setting), setting)["all"]["hit@1"] for m in ("e5-small", "e5-centred")}

    assert hit1["e5-centred"] >= 0.65, hit1
    assert hit1["e5-centred"] >= hit1["e5-small"] + 0.15, hit1


def test_the_e5_use_vector_scores_as_centred_e5_plus_a_share_of_use():
    """e5-small+use keeps both models in one unit vector, so Chroma's cosine and rag.fusion's centring on it
    must give exactly what was measured: centred e5 cosine + USE_WEIGHT x USE cosine (times 1 / (1 + w))."""
    setting = retrieval.build_setting("main", limit=12)
    passages = [p.text for p in setting.passages]
    languages = [p.language for p in setting.passages]
    questions = [q.text for q in setting.questions[:4]]
    e5, use, both = (shared_embedder(name) for name in ("e5-small", "use", "e5-small+use"))

    rows, e5_rows, use_rows = both.embed_passages(passages), e5.embed_passages(passages), use.embed_passages(passages)
    assert rows.shape == (len(passages), 384 + 512)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rows, e5_use_rows(e5_rows, use_rows), atol=1e-5)
    weight = fusion.USE_WEIGHT
    for question in questions:
        q, q_e5, q_use = both.embed_queries([question])[0], e5.embed_queries([question])[0], use.embed_queries([question])[0]
        combined = fusion.fuse(q, rows @ q, languages, "e5-small+use", passage_vectors=rows)
        measured = fusion.fuse(q_e5, e5_rows @ q_e5, languages, passage_vectors=e5_rows) + weight * (use_rows @ q_use)
        np.testing.assert_allclose(combined * (1 + weight), measured, atol=1e-4)
        assert np.argmax(combined) == np.argmax(measured)


def test_a_passage_close_to_every_question_is_ranked_below_an_equally_close_specific_one():
    e5 = shared_embedder("e5-small")
    sample = fusion.hub_queries()
    assert sample.shape[1] == e5.dim and len(sample) > 500
    hub = sample.mean(axis=0) / np.linalg.norm(sample.mean(axis=0))  # near every sample question
    specific = e5.embed_passages(["Der Verteidigungsminister traf am Dienstag den Generalstabschef in Teheran."])[0]
    vectors = np.stack([hub, specific])
    assert fusion.hubness(vectors)[0] > fusion.hubness(vectors)[1] + 0.05
    query = e5.embed_queries(["Whom did the defence minister meet in Tehran?"])[0]
    scores = fusion.fuse(query, [0.85, 0.85], ["de", "de"], passage_vectors=vectors)
    assert scores[1] > scores[0]
    np.testing.assert_allclose(fusion.fuse(query, [0.85, 0.85], ["de", "de"]), [0.85 - fusion.language_offsets(query, ["de"])[0]] * 2, atol=1e-6)
