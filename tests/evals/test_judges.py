"""The judges: the offline one with the real e5 embedder on cross-lingual pairs, hard negatives included
(wrong number, swapped person, wrong weekday, negation); the LLM one against a real OpenAI-protocol server
answering in several languages, once with a reply it cannot read."""

from __future__ import annotations

import pytest

from evals.judges import LLMJudge, OfflineJudge, calibrate, parse_verdict
from rag import consistency
from rag.config import Settings
from rag.llm.client import make_chat_client
from tests.rag_fixtures import shared_embedder

ARABIC = ("في السياق قال وزير الدفاع الروسي، سيرغي شويغو، خلال مؤتمر صحفي عقده في طهران، أنه ناقش مع رئيس هيئة "
          "الأركان الإيرانية، اللواء محمد باقري، الوضع في سوريا.")
GERMAN = "Am Dienstag traf Shoigu mit dem Generalstabschef der iranischen Streitkräfte, Mohammad Bagheri, zusammen."
MASTHEAD = "صحیفة ایران الدولیة الوفاق - العدد ٧٣٣٥ - ٢١ سبتمبر ٢٠٢٣"


@pytest.fixture(scope="module")
def judge():
    return OfflineJudge(shared_embedder("e5-small"), threshold=0.8)


@pytest.mark.parametrize("claim, evidence", [
    ("Shoigu discussed the situation in Syria with Bagheri in Tehran.", [ARABIC]),
    ("Choïgou a rencontré mardi le chef d'état-major iranien Mohammad Bagheri.", [GERMAN]),
    ("Al-Wefaq published issue 7335 on 21 September 2023.", [MASTHEAD]),
    ("Shoigu met Bagheri on Tuesday and discussed Syria.", [GERMAN, ARABIC]),  # needs both sentences
])
def test_offline_judge_accepts_cross_lingual_support(judge, claim, evidence):
    verdict = judge.judge(claim, evidence)
    assert verdict.supported, verdict


@pytest.mark.parametrize("claim, evidence, why", [
    ("Patrushev discussed the situation in Syria with Bagheri in Tehran.", [ARABIC], "name Patrushev"),
    ("Choïgou a rencontré vendredi le chef d'état-major iranien Mohammad Bagheri.", [GERMAN], "date weekday 5"),
    ("Al-Wefaq published issue 7353 on 21 September 2023.", [MASTHEAD], "number 7353"),
    ("Choïgou n'a pas rencontré le chef d'état-major iranien Mohammad Bagheri.", [GERMAN], "negation"),
    ("Bitcoin prices rose sharply in London.", [GERMAN], "similarity"),
])
def test_offline_judge_rejects_hard_negatives(judge, claim, evidence, why):
    verdict = judge.judge(claim, evidence)
    assert not verdict.supported and why in verdict.reason, verdict


TESLA_AR = ("بعد مغادرته شركة إديسون قام تسلا بشراكة مع اثنين من رجال الأعمال في 1886،  روبرت لين و بنجامين فايل ، "
            "اللذينِ وافقا على تمويل شركة إنارة كهربائية باسم تسلا، تسلا للإنارة الكهربائية والتصنيع.")  # XQuAD ar, paragraph 16


def test_names_match_across_scripts_beyond_the_seed_articles():
    assert consistency.check("After leaving Edison, Tesla partnered with Robert Lane and Benjamin Vail in 1886.", TESLA_AR, "en").names_ok
    swapped = consistency.check("After leaving Westinghouse, Tesla partnered with Robert Lane and Benjamin Franklin.", TESLA_AR, "en")
    assert swapped.missing == ["name Westinghouse", "name Franklin"]
    assert consistency.check("Patrouchev a rencontré Ahmadian.", "Patruschew traf Ahmadian.", "fr").names_ok
    assert consistency.check("Shoigu met Bagheri and Ashtiani.", "التقى شويغو باقري و آشتياني", "en").names_ok
    assert consistency.check("Der Minister traf am Dienstag Mohammad Bagheri.", "التقى الوزير محمد باقري", "de").names_ok


def test_calibration_picks_the_threshold_on_tune_and_reports_heldout(judge):
    pairs = [
        {"id": "1", "claim": "Shoigu met Bagheri on Tuesday.", "evidence": GERMAN, "supported": True, "split": "tune", "kind": "translation"},
        {"id": "2", "claim": "Bitcoin prices rose sharply in London.", "evidence": GERMAN, "supported": False, "split": "tune", "kind": "unrelated"},
        {"id": "3", "claim": "Shoigu met Bagheri on Friday.", "evidence": GERMAN, "supported": False, "split": "tune", "kind": "wrong_date"},
        {"id": "4", "claim": "Al-Wefaq published issue 7335.", "evidence": MASTHEAD, "supported": True, "split": "heldout", "kind": "translation"},
        {"id": "5", "claim": "Al-Wefaq published issue 7353.", "evidence": MASTHEAD, "supported": False, "split": "heldout", "kind": "wrong_number"},
    ]
    report = calibrate(OfflineJudge(shared_embedder("e5-small")), pairs)
    assert report["tune"]["accuracy"] == 1.0 and report["tune"]["n"] == 3 and report["heldout"]["n"] == 2
    assert 0.72 < report["threshold"] < 0.9
    assert {tuple(row["checks"]) for row in report["ablation"]} >= {(), ("numbers", "dates", "names", "negation")}
    assert set(report["by_kind"]) == {"translation", "unrelated", "wrong_date", "wrong_number"}


@pytest.mark.parametrize("reply, expected", [
    ("Yes.", True), ("oui", True), ("Ja, das stimmt.", True), ("نعم", True), ("Sí", True), ("SUPPORTED", True),
    ('{"supported": true}', True), ("```json\n{\"supported\": false}\n```", False), ("No", False), ("Non.", False),
    ("nein", False), ("لا", False), ("Not supported", False), ("unsupported", False), ("**No**, it does not.", False),
    ("The claim is supported by the evidence.", True), ("Maybe", None), ("Perhaps yes, perhaps no", None), ("", None),
])
def test_verdicts_are_read_in_any_language(reply, expected):
    assert parse_verdict(reply) is expected


def test_llm_judge_against_an_openai_protocol_server(fake_openai):
    settings = Settings(llm={"backend": "openai", "base_url": fake_openai.base_url, "model": "fake-model", "max_retries": 0})
    judge = LLMJudge(make_chat_client(settings))
    for reply in ("Oui.", "نعم", '{"supported": false}', "Nein", "I cannot tell."):
        fake_openai.reply(reply)
    verdicts = [judge.judge(f"claim {i}", [GERMAN]) for i in range(5)]
    assert [v.supported for v in verdicts] == [True, True, False, False, False]
    assert judge.unparseable == 1 and "unparseable" in verdicts[4].reason
    assert judge.judge("claim 0", [GERMAN]) is verdicts[0]  # asked once per claim and evidence
    prompt = fake_openai.chat_requests[0].body["messages"][0]["content"]
    assert "claim 0" in prompt and GERMAN in prompt and "QUESTION" not in prompt
    assert len(fake_openai.chat_requests) == 5
    fake_openai.reply("yes")
    assert judge.judge("Tuesday", [GERMAN], "On which day did Shoigu meet Bagheri?").supported
    assert "QUESTION (the claim is an answer to it): On which day" in fake_openai.chat_requests[5].body["messages"][0]["content"]


def test_judge_quality_command_scores_the_llm_judge_on_the_labelled_pairs(fake_openai, tmp_path, monkeypatch):
    """`python -m evals.judge_quality --judge llm`: a model that says yes to everything scores the share of
    supported pairs as accuracy, with recall 1; the report has every kind of pair."""
    import json

    from evals import judge_quality
    from evals.grounding import DATASETS, load_dataset

    monkeypatch.setenv("RAG_LLM__BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("RAG_LLM__MAX_RETRIES", "0")
    monkeypatch.setenv("RAG_LLM__MODEL", "fake-model")
    fake_openai.responder = lambda body: "Yes."
    out = tmp_path / "judge-llm"
    assert judge_quality.main(["--judge", "llm", "--split", "heldout", "--out", str(out)]) == 0
    heldout = [p for p in load_dataset(DATASETS / "judge_pairs.jsonl") if p["split"] == "heldout"]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["heldout"]["n"] == len(heldout) == len(fake_openai.chat_requests)
    assert report["heldout"]["accuracy"] == pytest.approx(sum(p["supported"] for p in heldout) / len(heldout))
    assert report["heldout"]["recall"] == 1.0 and report["unparseable"] == 0
    assert "| heldout |" in out.with_suffix(".md").read_text(encoding="utf-8")


@pytest.mark.parametrize("claim, evidence", [
    ("12 ships took part, 7 of them Russian.", "An der Übung nehmen zwölf Schiffe teil, sieben davon aus Russland."),
    ("Four drones and 20 missiles were shown.", "عرضت أربع طائرات مسيرة وعشرين صاروخا"),
    ("The convoy had 12 trucks.", "В колонне было двенадцать грузовиков."),
    ("17 navires ont participé.", "Dix-sept navires ont participé."),
])
def test_a_number_the_source_writes_in_words_backs_the_digits(claim, evidence):
    assert consistency.check(claim, evidence).numbers_ok
    assert consistency.details_supported(claim, [evidence])


@pytest.mark.parametrize("claim, evidence", [
    ("13 ships took part.", "An der Übung nehmen zwölf Schiffe teil."),
    ("7 navires ont participé.", "Dix-sept navires ont participé."),  # "sept" inside "dix-sept" is not 7
    ("2 engines were bought.", "Двигатели были куплены в Китае."),  # no stem matching: двигатель is not два
])
def test_number_words_back_only_their_own_number(claim, evidence):
    assert consistency.check(claim, evidence).missing[0].startswith("number")


KERMAN = ("L’attentat à la bombe du 3 janvier contre une cérémonie marquant l’assassinat par les États-Unis de l’ancien "
          "commandant de la Force Qods Qasem Soleimani dans la ville iranienne de Kerman a tué au moins 94 personnes, "
          "revendiqué par le groupe extrémiste musulman sunnite État islamique.")


def test_a_terse_answer_is_judged_with_its_question_and_its_own_details(judge):
    """"94" alone says nothing a source can support; read with its question it does, as the verifier reads
    it. Only an answer's terse sentences get the question, and its details are still the claim's own."""
    from evals.grounding import judge_claims
    from rag.cite import Claim
    from tests.evals.test_metrics import _evidence

    question = "How many people were killed in the Kerman bombing?"
    assert not judge.judge("94", [KERMAN]).supported
    assert judge.judge("94", [KERMAN], question).supported
    assert "number 93" in judge.judge("93", [KERMAN], question).reason
    evidence = [_evidence(1, KERMAN, "fr-article", "fr")]
    terse, long = Claim("94", [1], [1]), Claim("Bitcoin prices rose sharply in London, where 94 people met", [1], [1])
    verdicts = judge_claims(judge, [terse, long], evidence, [KERMAN], question)
    assert [v["supported_by_citations"] for v in verdicts] == [True, False]
