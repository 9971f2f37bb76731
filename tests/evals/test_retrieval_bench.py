"""Fast slices of the cross-lingual retrieval benchmark (evals/retrieval.py), embedding into a fresh cache.

1. English questions must find their paragraph among 20 paragraphs indexed in German or Arabic: USE clears
   the floor easily (hit@5 ~1.0); random vectors (~0.27) or questions paired with the wrong paragraph (~0.61)
   do not.
2. rag.fusion's language centring must lift e5-small's hit@1 for ar/de/ru/zh questions over the same 20
   paragraphs in 11 languages (raw ~0.48, centred ~0.78: raw e5 prefers passages in the question's language).
"""

from __future__ import annotations

import json

from evals import retrieval

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
