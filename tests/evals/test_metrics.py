"""Each grounding metric on small hand-computed cases, with a word-overlap judge whose verdicts are obvious:
a claim is supported when every one of its words occurs in the evidence texts joined."""

from __future__ import annotations

import pytest

from evals import grounding, metrics
from evals.judges import Verdict
from rag.evidence import Evidence
from rag.summarise import Point, Statement, Summary


class WordJudge:
    def judge(self, claim, evidence_texts, question=""):
        words = set(" ".join(evidence_texts).split())
        ok = bool(evidence_texts) and set(claim.split()) <= words
        return Verdict(ok, float(ok), "words")


J = WordJudge()


def sentence(text, cited, seen=("alpha", "beta", "gamma")):
    return metrics.judge_sentence(J, text, list(cited), list(seen))


def test_citation_recall_counts_sentences_their_citations_support():
    sentences = [sentence("alpha", ["alpha"]), sentence("beta", ["gamma"]), sentence("gamma", [])]
    assert metrics.citation_recall(sentences) == pytest.approx(1 / 3)
    assert sentences[2]["reason"] == "no citation"


def test_citation_precision_follows_alce():
    both_needed = sentence("alpha beta", ["alpha", "beta"])  # neither alone, both together: 2 relevant
    one_extra = sentence("alpha", ["alpha", "gamma"])  # gamma neither supports nor is needed: 1 of 2
    wrong = sentence("delta", ["gamma"])  # the citations do not support it: 0 of 1
    assert both_needed["citation_relevant"] == [True, True]
    assert one_extra["citation_relevant"] == [True, False]
    assert wrong["citation_relevant"] == [False]
    assert metrics.citation_precision([both_needed, one_extra, wrong]) == pytest.approx(3 / 5)


def test_an_answer_without_any_citation_has_zero_recall_and_precision():
    sentences = [sentence("alpha", []), sentence("beta", [])]
    assert metrics.citation_recall(sentences) == 0.0
    assert metrics.citation_precision(sentences) == 0.0
    assert metrics.faithfulness(sentences) == 1.0  # what it says is in the evidence, just not cited


def test_faithfulness_is_support_by_any_evidence_seen():
    sentences = [sentence("alpha", ["beta"]), sentence("delta", ["alpha"])]
    assert [s["faithful"] for s in sentences] == [True, False]
    assert metrics.faithfulness(sentences) == 0.5
    assert metrics.citation_recall([]) is None and metrics.faithfulness([]) is None


def test_facts_match_across_scripts_digits_case_and_width():
    facts = [{"id": "f1", "any_of": ["Bagheri", "باقري"]}, {"id": "f2", "any_of": ["7335"]}, {"id": "f3", "any_of": ["Ashtiani"]}]
    found = metrics.facts_found("التقى اللواء محمد باقري في العدد ٧٣٣٥", facts)
    assert found == {"f1": True, "f2": True, "f3": False}
    assert metrics.facts_found("ＢＡＧＨＥＲＩ", facts[:1]) == {"f1": True}  # fullwidth folds under NFKC


@pytest.mark.parametrize("text, fact, found", [
    ("The Hadrians Wall is still visible", "Hadrian's", True),  # apostrophe dropped
    ("when two thirds of its population died", "two-thirds of its population", True),  # hyphen as a space
    ("Muhammad ibn Zakaryā ar-Rāzī (Rhazes)", "Muḥammad ibn Zakaryā ar-Rāzī", True),  # diacritics stripped
    ("اجتمع مع الرئيس الإيراني", "الايراني", True),  # hamza below the alef
    ("des armes iraniennes", "nié", False),  # a stem without its accent only matches at a word start
    ("Moscou a nié", "nié", True),
    ("two-thirds", "two thirds of its population", False),
])
def test_facts_match_without_punctuation_or_diacritics_at_word_starts(text, fact, found):
    assert metrics.facts_found(text, [{"id": "f1", "any_of": [fact]}]) == {"f1": found}


QUESTION = {"id": "q", "type": "single-source", "split": "tune", "language": "en",
            "facts": [{"id": "f1", "any_of": ["Bagheri"]}, {"id": "f2", "any_of": ["Tuesday"]}], "documents": ["a"]}


def test_answer_correctness_and_false_abstention():
    answered = metrics.question_metrics(QUESTION, text="Shoigu met Bagheri [1].", claimed="Shoigu met Bagheri.",
                                        abstained=False, sentences=[sentence("alpha", ["alpha"])], retrieved_docs=["a"])
    assert answered["answer_correctness"] == 0.5 and answered["all_facts_rate"] == 0.0
    assert answered["false_abstention_rate"] == 0.0 and answered["abstention_accuracy"] is None
    # An abstention names the closest sources; their titles must not earn facts.
    abstained = metrics.question_metrics(QUESTION, text="The sources do not say. Closest: Bagheri on Tuesday.", claimed="",
                                         abstained=True, sentences=[], retrieved_docs=["a"])
    assert abstained["answer_correctness"] == 0.0 and abstained["false_abstention_rate"] == 1.0
    assert abstained["citation_recall"] is None and abstained["citation_precision"] is None


def test_context_recall_counts_the_facts_in_the_evidence_whatever_the_answer():
    """The evidence held Tuesday but not Bagheri: 0.5 for the answer that used it and for the abstention."""
    evidence = "Shoigu arrived in Tehran on Tuesday."
    for claimed, abstained in (("Shoigu arrived on Tuesday.", False), ("", True)):
        values = metrics.question_metrics(QUESTION, text=claimed, claimed=claimed, abstained=abstained,
                                          sentences=[], retrieved_docs=["a"], evidence=evidence)
        assert values["context_recall"] == 0.5
    unanswerable = dict(QUESTION, type="unanswerable", facts=[])
    assert metrics.question_metrics(unanswerable, text="", claimed="", abstained=True, sentences=[], retrieved_docs=[],
                                    evidence=evidence)["context_recall"] is None


def test_retrieval_ranks_count_distinct_documents():
    assert metrics.retrieval_ranks(["b", "b", "a", "c"], ["a"]) == {"hit@1": 0.0, "hit@3": 1.0, "mrr": 0.5}
    assert metrics.retrieval_ranks(["b", "c", "d", "a"], ["a", "z"]) == {"hit@1": 0.0, "hit@3": 0.0, "mrr": 0.25}
    assert metrics.retrieval_ranks([], ["a"]) == {"hit@1": 0.0, "hit@3": 0.0, "mrr": 0.0}


def test_injection_resistance_looks_for_canaries_in_the_shown_answer():
    probe = {**QUESTION, "type": "injection", "must_not_contain": ["PWNED"]}
    leaked = metrics.question_metrics(probe, text="Total pwned victory", claimed="", abstained=True, sentences=[], retrieved_docs=[])
    clean = metrics.question_metrics(probe, text="Shoigu met Bagheri.", claimed="Shoigu met Bagheri.", abstained=False,
                                     sentences=[], retrieved_docs=[])
    assert leaked["injection_resistance"] == 0.0 and clean["injection_resistance"] == 1.0


def _record(question, abstained, **fields):
    values = metrics.question_metrics(question, text="The sources do not say." if abstained else "Bagheri.",
                                      claimed="" if abstained else "Bagheri.", abstained=abstained,
                                      sentences=[] if abstained else [sentence("alpha", ["alpha"])], retrieved_docs=["a"])
    return {**question, **fields, "metrics": values}


def test_aggregate_when_everything_abstained():
    unanswerable = {**QUESTION, "id": "u", "type": "unanswerable", "facts": [], "documents": [], "split": "heldout", "language": "fr"}
    records = [_record(QUESTION, True), _record(unanswerable, True)]
    groups = metrics.aggregate(records)
    overall = groups["all"]
    assert "citation_recall" not in overall and "faithfulness" not in overall  # nothing was claimed
    assert overall["abstention_accuracy"] == {"value": 1.0, "n": 1}
    assert overall["false_abstention_rate"] == {"value": 1.0, "n": 1}
    assert overall["answer_correctness"] == {"value": 0.0, "n": 1}
    assert groups["split=heldout"]["abstention_accuracy"]["n"] == 1 and "split=tune" in groups
    assert set(groups) >= {"language=en", "language=fr", "type=single-source", "type=unanswerable"}


def test_aggregate_averages_per_question():
    records = [_record(QUESTION, False), _record({**QUESTION, "id": "q2"}, True)]
    overall = metrics.aggregate(records)["all"]
    assert overall["answer_correctness"] == {"value": 0.25, "n": 2}
    assert overall["citation_recall"] == {"value": 1.0, "n": 1}
    assert overall["hit@1"] == {"value": 1.0, "n": 2}


def test_compare_knows_which_way_is_better():
    baseline = {"m/all/citation_recall": 0.9, "m/all/false_abstention_rate": 0.1, "m/all/mrr": 0.5, "m/all/hit@1": 0.5}
    current = {"m/all/citation_recall": 0.8, "m/all/false_abstention_rate": 0.2, "m/all/mrr": 0.6, "m/all/hit@1": 0.53}
    found = metrics.compare(current, baseline, tolerance=0.05)
    assert [r["metric"] for r in found["regressions"]] == ["m/all/citation_recall", "m/all/false_abstention_rate"]
    assert [r["metric"] for r in found["improvements"]] == ["m/all/mrr"]
    assert metrics.compare(current, {"m/all/citation_recall": 0.84}, 0.05)["regressions"] == []


# -- summaries ---------------------------------------------------------------------------------------


def _evidence(n, text, doc, language):
    return Evidence(n=n, text=text, doc_id=doc, chunk_id=f"{doc}:0", title=doc, source=None, date=None, language=language,
                    path=f"{doc}.txt", start=0, end=len(text), passage=text, passage_start=0, score=1.0)


TASK = {"id": "s", "topic": "t", "language": "en", "split": "heldout", "source_languages": ["fr", "ar", "es"],
        "documents": ["a", "b", "d"], "facts": [{"id": "f1", "any_of": ["ALPHA"]}, {"id": "f2", "any_of": ["zeta"]}],
        "must_not_cite": ["c"]}


def _summary(**fields):
    """A Summary as rag.summarise builds it: kept points citing 1..3 of A (fr), B (de) and C (ar), one dropped."""
    points = [Point("alpha beta", [1], citations=[1], supported=True, doc_id="A"),
              Point("gamma delta", [1], citations=[2, 3], supported=True, doc_id="B"),  # needs both citations
              Point("epsilon", [1], citations=[1], supported=True, doc_id="A")]  # its citation does not say it
    citations = [_evidence(1, "alpha beta", "A", "fr"), _evidence(2, "gamma", "B", "de"), _evidence(3, "delta", "C", "ar")]
    dropped = [Point("zeta omega", [1], note="not supported by the sources", doc_id="A")]
    return Summary("t", "en", "extractive", text="alpha beta [1]. gamma delta [2][3]. epsilon [1].", points=points,
                   citations=citations, dropped=dropped, agreements=[Statement("agree", "gamma delta [2][3].", [2, 3], ["B", "C"])],
                   timings_ms={"total": 5.0}, **fields)


def test_a_summary_is_scored_from_its_kept_sentences_and_their_citations():
    record = grounding.score_summary(TASK, _summary(), J, {"A": "a", "B": "b", "C": "c"}, hostile=["c", "h"])
    m = record["metrics"]
    assert record["facts"] == {"f1": True, "f2": False}  # zeta is only in the dropped sentence
    assert m["fact_coverage"] == 0.5 and m["all_facts_rate"] == 0.0 and record["missed"] == ["f2 (zeta)"]
    assert m["document_coverage"] == pytest.approx(2 / 3)  # a and b cited, d not; c is not gold
    assert m["language_coverage"] == pytest.approx(2 / 3)  # fr and ar of fr, ar, es (de is not asked for)
    assert m["citation_recall"] == pytest.approx(2 / 3)  # "epsilon" is not in "alpha beta"
    assert m["citation_precision"] == pytest.approx(3 / 4)  # 1 + both of [2][3] + 0 of epsilon's
    assert m["verified_share"] == 0.75  # 3 kept, 1 dropped
    assert m["restriction_respected"] == 0.0 and m["no_hostile_source"] == 0.0  # cites c
    clean = grounding.score_summary(TASK, _summary(), J, {"A": "a", "B": "b", "C": "c"}, hostile=["h"])["metrics"]
    assert clean["no_hostile_source"] == 1.0
    assert record["cited_documents"] == ["a", "b", "c"] and (record["agreements"], record["differences"]) == (1, 0)
    assert m["faithfulness"] is None  # this Summary records no evidence shown to judge against


def test_summary_faithfulness_sees_uncited_evidence_and_merged_points_count_as_verified():
    shown = [_evidence(1, "alpha beta", "A", "fr"), _evidence(2, "gamma", "B", "de"), _evidence(3, "delta", "C", "ar"),
             _evidence(4, "epsilon", "A", "fr")]  # shown to the model, cited by nothing
    m = grounding.score_summary(TASK, _summary(evidence=shown, merged=1), J, {"A": "a", "B": "b", "C": "c"})["metrics"]
    assert m["faithfulness"] == 1.0 and m["citation_recall"] == pytest.approx(2 / 3)  # invented? no; mis-cited
    assert m["verified_share"] == 0.8  # 3 kept + 1 merged, 1 dropped


def test_an_abstaining_summary_scores_zero_facts_and_no_judge_metrics():
    task = {**TASK, "must_not_cite": [], "must_not_contain": ["Kerman"]}
    shown = "The sources do not cover this. Closest: Kerman attack (ALPHA)."
    abstained = Summary("t", "en", "local", text=shown, abstained=True,
                        dropped=[Point("alpha", [1], note="not supported by the sources")])
    m = grounding.score_summary(task, abstained, J, {})["metrics"]
    assert m["fact_coverage"] == 0.0 and m["document_coverage"] == 0.0 and m["language_coverage"] == 0.0
    assert m["citation_recall"] is None and m["citation_precision"] is None
    assert m["verified_share"] == 0.0  # it generated one sentence and verification rejected it
    assert m["restriction_respected"] == 0.0  # the abstention as shown names a forbidden string
    nothing = metrics.summary_metrics({**TASK, "source_languages": None, "must_not_cite": []}, found={}, text="", sentences=[],
                                      cited_docs=[], cited_languages=[], kept=0, dropped=0)
    assert all(value is None for name, value in nothing.items() if name != "document_coverage")


def test_summary_metrics_aggregate_per_split_and_gate_only_large_groups():
    stems = {"A": "a", "B": "b", "C": "c"}
    records = [grounding.score_summary({**TASK, "id": f"s{i}", "split": "tune" if i < 5 else "heldout"}, _summary(), J, stems, ["h"])
               for i in range(6)]
    groups = metrics.aggregate(records, ("split", "language"), metrics.SUMMARY_METRICS)
    assert groups["all"]["fact_coverage"] == {"value": 0.5, "n": 6} and groups["split=heldout"]["verified_share"]["n"] == 1
    assert set(groups["all"]) == set(metrics.SUMMARY_METRICS) - {"faithfulness"}  # no evidence recorded: not judged
    assert "answer_correctness" not in groups["all"]
    result = {"modes": {}, "summaries": {"modes": {"extractive": {"metrics": groups}}},
              "judge": {s: {"accuracy": 1.0, "precision": 1.0, "recall": 1.0} for s in ("tune", "heldout")}}
    flat = grounding.flat_metrics(result)
    assert flat["summary/extractive/all/document_coverage"] == pytest.approx(0.6667)
    assert flat["summary/extractive/split=tune/verified_share"] == 0.75
    assert not any(key.startswith("summary/extractive/split=heldout") for key in flat)  # 1 task: too few to gate on
