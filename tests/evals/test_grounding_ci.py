"""The grounding runner end to end in extractive mode: 6 gold questions (spread over the types) and a slice
of the judge pairs from the real datasets, the real e5 embedder, embedded Chroma, the real report files,
and the baseline gate failing on an impossible baseline and passing on a reachable one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import grounding
from evals.metrics import METRICS
from rag.config import Settings
from tests.rag_fixtures import shared_embedder

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
    (data / "injection_articles").symlink_to(DATASETS / "injection_articles")
    impossible = root / "impossible.json"
    impossible.write_text(json.dumps({"metrics": {"extractive/all/hit@3": 1.5, "judge/heldout/accuracy": 0.0}}))
    out = root / "out"
    result = grounding.run(
        "ci", ["extractive"], "offline", out, impossible, 0.05, datasets=data,
        settings=Settings(data_dir=root / "data"), embedder=shared_embedder("e5-small"),
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
    assert [r["metric"] for r in result["baseline"]["regressions"]] == ["extractive/all/hit@3"]
    assert [r["metric"] for r in result["baseline"]["improvements"]] == ["judge/heldout/accuracy"]
    assert grounding.verdict(result) == 1
    reachable = root / "reachable.json"
    grounding.write_baseline(result, reachable, 0.05)
    lowered = json.loads(reachable.read_text())
    lowered["metrics"] = {key: value - 0.04 for key, value in lowered["metrics"].items()}  # within tolerance
    reachable.write_text(json.dumps(lowered))
    grounding.check_baseline(result, reachable, 0.05)
    assert result["baseline"]["regressions"] == [] and grounding.verdict(result) == 0
