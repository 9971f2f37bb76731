"""The grounding runner end to end in extractive mode: 6 gold questions (spread over the types), every
summary task and a slice of the judge pairs from the real datasets, the real e5 embedder, embedded Chroma,
the real report files, and the baseline gate failing on an impossible baseline and passing on a reachable
one. Then one summary task in openai mode against the fake OpenAI server, scripted per evidence sentence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evals import grounding
from evals.judges import OfflineJudge
from evals.metrics import METRICS, SUMMARY_METRICS
from rag.config import Settings
from tests.rag_fixtures import CORPUS, DEFAULT_EMBEDDER, FRENCH, shared_embedder

DATASETS = grounding.DATASETS


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not (DATASETS / "gold_seed.jsonl").is_file():
        pytest.fail("evals/datasets/gold_seed.jsonl is missing")
    root = tmp_path_factory.mktemp("grounding")
    data = root / "datasets"
    data.mkdir()
    gold = grounding.spread(grounding.load_dataset(DATASETS / "gold_seed.jsonl"), 6)
    pairs = grounding.load_dataset(DATASETS / "judge_pairs.jsonl")
    _jsonl(data / "gold_seed.jsonl", gold)
    _jsonl(data / "judge_pairs.jsonl", [p for p in pairs if p["split"] == "tune"][:16] + [p for p in pairs if p["split"] == "heldout"][:8])
    (data / "summary_tasks.jsonl").symlink_to(DATASETS / "summary_tasks.jsonl")
    (data / "injection_articles").symlink_to(DATASETS / "injection_articles")
    impossible = root / "impossible.json"
    impossible.write_text(json.dumps({"metrics": {"extractive/all/hit@3": 1.5, "judge/heldout/accuracy": 0.0,
                                                  "summary/extractive/all/document_coverage": 1.5}}))
    out = root / "out"
    result = grounding.run(
        "ci", ["extractive"], "offline", out, impossible, 0.05, datasets=data,
        settings=Settings(data_dir=root / "data"), embedder=shared_embedder(DEFAULT_EMBEDDER),
    )
    return result, out, root


def test_result_has_every_metric_and_the_judges_quality(run):
    result, out, _ = run
    saved = json.loads((out / "result.json").read_text(encoding="utf-8"))
    mode = saved["modes"]["extractive"]
    assert mode["status"] == "ok" and mode["questions"] == 6
    assert set(mode["metrics"]["all"]) == set(METRICS)
    for group in ("split=tune", "split=heldout", "type=unanswerable", "type=injection"):
        assert group in mode["metrics"]
    for split in ("tune", "heldout"):
        assert set(saved["judge"][split]) >= {"accuracy", "precision", "recall", "f1", "n"}
    assert saved["judge"]["tune"]["n"] == 16 and saved["judge"]["heldout"]["n"] == 8
    record = mode["records"][0]
    assert {"question", "answer", "sentences", "citations", "facts", "metrics"} <= set(record)


def test_report_and_charts_are_written(run):
    result, out, _ = run
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Judge: how far its verdicts can be trusted" in report and "## Per-question details" in report
    assert all(r["question"] in report for r in result["modes"]["extractive"]["records"])
    for chart in ("metrics.png", "judge.png"):
        assert (out / chart).read_bytes().startswith(b"\x89PNG")


def test_the_baseline_gate_fails_on_a_drop_and_passes_otherwise(run):
    result, _, root = run
    assert [r["metric"] for r in result["baseline"]["regressions"]] == ["extractive/all/hit@3", "summary/extractive/all/document_coverage"]
    assert [r["metric"] for r in result["baseline"]["improvements"]] == ["judge/heldout/accuracy"]
    assert grounding.verdict(result) == 1
    reachable = root / "reachable.json"
    grounding.write_baseline(result, reachable, 0.05)
    lowered = json.loads(reachable.read_text())
    lowered["metrics"] = {key: value - 0.04 for key, value in lowered["metrics"].items()}  # within tolerance
    reachable.write_text(json.dumps(lowered))
    grounding.check_baseline(result, reachable, 0.05)
    assert result["baseline"]["regressions"] == [] and grounding.verdict(result) == 0


def test_every_summary_task_is_summarised_scored_and_reported(run):
    result, out, _ = run
    outcome = json.loads((out / "result.json").read_text(encoding="utf-8"))["summaries"]["modes"]["extractive"]
    assert outcome["status"] == "ok" and outcome["tasks"] == 6 and not outcome["errors"]
    assert set(outcome["metrics"]["all"]) == set(SUMMARY_METRICS)
    records = {r["id"]: r for r in outcome["records"]}
    target = records["s001"]["metrics"]  # the task: the three seed articles are quoted and cited
    assert target["document_coverage"] == 1.0 and target["verified_share"] == 1.0 and target["citation_recall"] == 1.0
    assert records["s004"]["metrics"]["restriction_respected"] == 1.0  # Arabic and German sources only
    assert records["s004"]["metrics"]["no_hostile_source"] == 1.0  # the hostile fixtures are English and French
    assert {c["language"] for c in records["s004"]["citations"]} <= {"ar", "de"}
    assert FRENCH not in records["s004"]["cited_documents"]
    assert result["flat"]["summary/extractive/all/fact_coverage"] == outcome["metrics"]["all"]["fact_coverage"]["value"]
    assert not any(key.startswith("summary/extractive/split=heldout/") for key in result["flat"])  # 2 tasks
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| s001 | extractive | tune | en |" in report and "## Per-summary details" in report
    assert (out / "summaries.png").read_bytes().startswith(b"\x89PNG")


KERMAN = "The 3 January bomb attack on a ceremony for Qasem Soleimani in the Iranian city of Kerman killed at least 94 people."
INVENTED = "Iran also delivered 5000 tanks to Venezuela in 1987."


def test_an_openai_mode_summary_is_scored_with_what_verification_dropped(tmp_path, fake_openai):
    """The fake model restates the French sentence on the bombing and adds an invented one, which
    verification drops: kept 1 of 2, the forbidden string never shown, the missing actor reported."""

    def restate(body):
        lines = re.findall(r"^\[(\d+)\] (.*)$", body["messages"][-1]["content"], re.M)
        number = next((n for n, text in lines if "94 personnes" in text), None)
        return (f"[{number}] {KERMAN}\n" if number else "") + f"[1] {INVENTED}"

    fake_openai.responder = restate
    llm = {"backend": "openai", "base_url": fake_openai.base_url, "api_key": "sk-test", "model": "fake-model", "max_retries": 0}
    embedder = shared_embedder(DEFAULT_EMBEDDER)
    one_prompt = {"total_points": {"short": 1, "medium": 2, "long": 3}}  # a lone document gives `points`, not more
    ctx, stems = grounding.build_index(Settings(data_dir=tmp_path / "data", llm=llm, summary=one_prompt), embedder, "gold", [CORPUS])
    task = {"id": "k1", "topic": "Kerman bomb attack on the Soleimani ceremony", "language": "en", "source_languages": ["fr"],
            "documents": [FRENCH], "split": "tune", "must_not_contain": ["Venezuela"],
            "facts": [{"id": "f1", "any_of": ["Kerman"]}, {"id": "f2", "any_of": ["٩٤", "94"]}, {"id": "f3", "any_of": ["Ahmadian"]}]}
    outcome = grounding.evaluate_summaries("openai", "full", [task], ctx, stems, OfflineJudge(embedder))
    (record,) = outcome["records"]
    assert len(fake_openai.chat_requests) == 1  # one MAP prompt: the only French document
    assert [s["text"] for s in record["sentences"]] == [KERMAN], record["dropped"]
    assert [d["text"] for d in record["dropped"]] == [INVENTED]
    m = record["metrics"]
    assert m["verified_share"] == 0.5 and m["fact_coverage"] == pytest.approx(2 / 3) and record["missed"] == ["f3 (Ahmadian)"]
    assert m["document_coverage"] == 1.0 and m["language_coverage"] == 1.0 and m["restriction_respected"] == 1.0
    assert outcome["metrics"]["all"]["verified_share"] == {"value": 0.5, "n": 1}


def test_an_abstention_shows_what_the_model_wrote(run):
    """When verification turns a model's answer into an abstention, the report says what was dropped."""
    from evals.report import _details

    result, _, _ = run
    record = dict(result["modes"]["extractive"]["records"][0], abstained=True, model_output="94\n[3]")
    shown = "\n".join(_details("local", {"status": "ok", "errors": [], "records": [record]}))
    assert "*Model wrote:* 94 [3]" in shown
    assert "Model wrote" not in "\n".join(_details("local", {"status": "ok", "errors": [], "records": [dict(record, model_output="")]}))


def test_modes_are_named_as_the_cli_names_llms(capsys):
    """`rag eval --llm none,local` runs what `--modes extractive,local` runs; an unknown name is a usage error."""
    assert grounding.parse_modes(" none, local ,") == ["extractive", "local"]
    with pytest.raises(SystemExit) as exit_info:
        grounding.main(["--llm", "none,gpt9"])
    assert exit_info.value.code == 2 and "unknown mode(s) gpt9" in capsys.readouterr().err
