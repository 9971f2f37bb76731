"""Grounding evaluation: answer the gold questions and summarise the summary tasks with every mode, judge
each sentence against its citations (and an answer's against all its evidence), and report correctness,
abstention, retrieval, injection and summary coverage metrics per split, language and type, next to how
far the judge itself can be trusted.

Suites:
  ci    extractive mode on every gold question and summary task, each LLM mode on CI_LLM_QUESTIONS tune
        questions spread over the question types and on the CI_LLM_SUMMARY task, the judge on every
        judge pair (minutes on 2 cores);
  full  every mode on every gold question, summary task and XQuAD question (English questions over
        German and Arabic paragraphs).

Everything is built in a temporary data dir (embedded Chroma; the local model's file is shared with the
configured data dir so it is assembled once). The run writes result.json, report.md and PNG charts to
out_dir and compares with a committed baseline: a metric more than `tolerance` (absolute) worse than
the baseline fails the run (exit code 1), improvements are reported.

    python -m evals.grounding --suite ci [--modes extractive,local] [--judge offline|llm]
        [--baseline evals/baselines/ci.json] [--write-baseline evals/baselines/ci.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from evals import metrics, xquad
from evals.judges import LLMJudge, OfflineJudge, calibrate
from evals.report import write_report
from rag.answer import Answer, Answerer
from rag.cite import is_terse
from rag.config import ConfigError, Settings, load_settings
from rag.context import RagContext
from rag.embeddings import Embedder
from rag.ingest.pipeline import ingest
from rag.llm.client import LLMError, make_chat_client
from rag.llm.local_server import close_local_server
from rag.summarise import Summariser, Summary

HERE = Path(__file__).resolve().parent
DATASETS = HERE / "datasets"
CORPUS = HERE.parent / "corpus"
RESULTS = HERE / "results" / "grounding"
BASELINES = HERE / "baselines"
MODES = {"extractive": "none", "local": "local", "openai": "openai"}  # mode -> Answerer / Summariser(llm=...)
CI_LLM_QUESTIONS = 8
CI_LLM_SUMMARY = "s001"  # the summaries issue's target; ~110 s with the local model on 2 cores
BASELINE_GROUPS = ("all", "split=", "dataset=")  # per-language/type groups are too small to gate on
BASELINE_MIN_N = 5  # smaller groups flip by more than any sensible tolerance on one answer
TYPES = ("single-source", "cross-source", "unanswerable", "injection")
SCHEMAS = {  # file -> fields every line must have
    "gold_seed.jsonl": ("id", "question", "language", "type", "facts", "documents", "split"),
    "judge_pairs.jsonl": ("id", "claim", "claim_language", "evidence", "evidence_language", "supported", "kind", "split"),
    "summary_tasks.jsonl": ("id", "topic", "language", "source_languages", "documents", "facts", "split"),
    "xquad_qa.jsonl": ("id", "question", "language", "type", "facts", "documents", "split", "paragraph"),
}


class DatasetError(ValueError):
    """A dataset file is missing or a line does not follow its schema; the message says where."""


def load_dataset(path: Path) -> list[dict]:
    """Rows of one JSONL dataset, checked against SCHEMAS (fields, split, type, facts, labels)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{where}: not JSON ({exc})") from None
        missing = [f for f in SCHEMAS[path.name] if f not in row]
        if missing:
            raise DatasetError(f"{where}: missing {', '.join(missing)}")
        if row["split"] not in ("tune", "heldout"):
            raise DatasetError(f"{where}: split must be tune or heldout, not {row['split']!r}")
        if "type" in row and row["type"] not in TYPES:
            raise DatasetError(f"{where}: type must be one of {', '.join(TYPES)}, not {row['type']!r}")
        if any(not isinstance(f, dict) or "id" not in f or not f.get("any_of") for f in row.get("facts", [])):
            raise DatasetError(f"{where}: every fact needs an id and a non-empty any_of")
        if "supported" in row and not isinstance(row["supported"], bool):
            raise DatasetError(f"{where}: supported must be true or false")
        rows.append(row)
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path.name}: duplicate ids")
    return rows


def load_datasets(root: Path, names: Sequence[str]) -> dict[str, list[dict]]:
    found = {}
    for name in names:
        path = root / name
        if not path.is_file():
            raise DatasetError(f"{path} does not exist")
        found[name] = load_dataset(path)
    return found


def spread(questions: Sequence[dict], n: int | None) -> list[dict]:
    """Up to n questions taken round-robin over their types, so a small subset still covers each type."""
    if n is None or n >= len(questions):
        return list(questions)
    by_type: dict[str, list[dict]] = {}
    for q in questions:
        by_type.setdefault(q["type"], []).append(q)
    chosen = []
    while len(chosen) < n:
        for group in by_type.values():
            if group and len(chosen) < n:
                chosen.append(group.pop(0))
    return sorted(chosen, key=questions.index)


# -- indexes -----------------------------------------------------------------------------------------


def eval_settings(base: Settings, data_dir: Path) -> Settings:
    """The configured settings with embedded Chroma in `data_dir`, sharing the configured models dir."""
    base.models_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(base.models_dir, target_is_directory=True)
    chroma = base.chroma.model_copy(update={"host": None})
    return base.model_copy(update={"data_dir": data_dir, "chroma": chroma})


def build_index(settings: Settings, embedder: Embedder, collection: str, folders: Sequence[Path]) -> tuple[RagContext, dict[str, str]]:
    """Ingest `folders` into their own collection; returns the context and doc id -> file stem."""
    settings = settings.model_copy(update={"chroma": settings.chroma.model_copy(update={"collection": collection})})
    ctx = RagContext(settings, embedder=embedder)
    report = ingest(folders, settings, ctx.store, embedder)
    failed = [f"{o.path}: {o.reason}" for o in report.outcomes if o.status == "failed"]
    if failed:
        raise DatasetError("could not ingest: " + "; ".join(failed))
    return ctx, {rec.doc_id: Path(rec.path).stem for rec in ctx.store.documents().values()}


def write_xquad_corpus(folder: Path) -> Path:
    """Every German and Arabic XQuAD paragraph as xquad-<lang>-<i>.txt (the stems xquad_qa names)."""
    folder.mkdir(parents=True, exist_ok=True)
    for language in ("de", "ar"):
        for i, text in enumerate(xquad.paragraphs(language)):
            (folder / f"xquad-{language}-{i}.txt").write_text(text + "\n", encoding="utf-8")
    return folder


# -- answering and judging ---------------------------------------------------------------------------


def judge_claims(judge, claims: Sequence, citations: Sequence, seen: Sequence[str] | None, question: str = "") -> list[dict]:
    """Each sentence of an answer (claims) or a summary (points) with the judge's verdicts on the evidence
    it cites (numbered as in `citations`) and, for answers, on all the evidence the model saw. A terse
    sentence ("94") is judged with the `question` it answers, as the verifier reads it."""
    cited = {ev.n: ev for ev in citations}
    return [{"text": c.text, "citations": c.citations, "verifier_note": c.note,
             **metrics.judge_sentence(judge, c.text, [cited[n].text for n in c.citations if n in cited], seen,
                                      question if question and is_terse(c.text) else "")}
            for c in claims]


def _shown_citations(citations: Sequence, stems: dict[str, str]) -> list[dict]:
    return [{"n": ev.n, "text": ev.text, "doc": stems.get(ev.doc_id, ev.doc_id), "language": ev.language} for ev in citations]


def score_answer(question: dict, answer: Answer, judge, stems: dict[str, str], dataset: str) -> dict:
    """One question's record: the answer, per-sentence verdicts, metrics and what the report shows."""
    sentences = judge_claims(judge, [] if answer.abstained else answer.claims, answer.citations,
                             [ev.text for ev in answer.evidence],
                             "" if answer.mode == "extractive" else answer.standalone_question)
    retrieved = [stems.get(h.doc_id, h.doc_id) for h in answer.retrieved]
    claimed = "" if answer.abstained else " ".join(c.text for c in answer.claims)
    return {
        "id": question["id"], "dataset": dataset, "split": question["split"], "language": question["language"],
        "type": question["type"], "question": question["question"], "answer": answer.text,
        "answer_language": answer.language, "abstained": answer.abstained, "abstain_reason": answer.abstain_reason,
        "sentences": sentences,
        "citations": _shown_citations(answer.citations, stems),
        "facts": metrics.facts_found(claimed, question.get("facts", [])),
        "gold_documents": question.get("documents", []), "retrieved_documents": list(dict.fromkeys(retrieved)),
        "timings_ms": answer.timings_ms, "model_output": answer.raw_text,
        "metrics": metrics.question_metrics(
            question, text=answer.text, claimed=claimed, abstained=answer.abstained,
            sentences=sentences, retrieved_docs=retrieved, evidence=" ".join(ev.text for ev in answer.evidence),
        ),
    }


def run_mode(answerer: Answerer, questions: Sequence[dict], judge, stems: dict[str, str], dataset: str) -> tuple[list[dict], list[dict]]:
    """Records of the questions answered, and the questions whose answer failed (LLM errors)."""
    records, errors = [], []
    for i, question in enumerate(questions, 1):
        print(f"  [{answerer.mode} {dataset} {i}/{len(questions)}] {question['id']}", file=sys.stderr, flush=True)
        try:
            answer = answerer.answer(question["question"])
        except LLMError as exc:
            errors.append({"id": question["id"], "error": str(exc)})
            continue
        records.append(score_answer(question, answer, judge, stems, dataset))
    return records, errors


def score_summary(task: dict, summary: Summary, judge, stems: dict[str, str], hostile: Sequence[str] = ()) -> dict:
    """One summary task's record: the summary, its kept sentences judged like answer sentences, what
    verification dropped, coverage metrics and what the report shows. `hostile`: stems of the indexed
    hostile fixtures."""
    sentences = judge_claims(judge, summary.points, summary.citations, [ev.text for ev in summary.evidence] or None)
    found = metrics.facts_found(" ".join(p.text for p in summary.points), task["facts"])
    cited = list(dict.fromkeys(stems.get(ev.doc_id, ev.doc_id) for ev in summary.citations))
    return {
        "id": task["id"], "split": task["split"], "language": task["language"], "topic": task["topic"],
        "source_languages": task["source_languages"], "summary": summary.text, "abstained": summary.abstained,
        "sentences": sentences, "dropped": [{"text": p.text, "note": p.note} for p in summary.dropped],
        "citations": _shown_citations(summary.citations, stems), "facts": found,
        "missed": [f"{f['id']} ({f['any_of'][0]})" for f in task["facts"] if not found[f["id"]]],
        "gold_documents": task["documents"], "cited_documents": cited,
        "agreements": len(summary.agreements), "differences": len(summary.differences), "timings_ms": summary.timings_ms,
        "metrics": metrics.summary_metrics(
            task, found=found, text=summary.text, sentences=sentences, cited_docs=cited,
            cited_languages=[ev.language for ev in summary.citations], kept=len(summary.points) + summary.merged,
            dropped=len(summary.dropped),
            hostile=hostile,
        ),
    }


def evaluate_summaries(mode: str, suite: str, tasks: Sequence[dict], ctx: RagContext, stems: dict[str, str], judge,
                       hostile: Sequence[str] = ()) -> dict:
    """Summarise each task (topic, language, source languages) over the whole index with one mode and score
    it; in the ci suite the LLM modes summarise the CI_LLM_SUMMARY task only."""
    started = time.perf_counter()
    try:
        summariser = Summariser(ctx, llm=MODES[mode])
    except LLMError as exc:
        return {"status": f"skipped: {exc}"}
    if suite == "ci" and mode != "extractive":
        tasks = [t for t in tasks if t["id"] == CI_LLM_SUMMARY]
    records, errors = [], []
    for i, task in enumerate(tasks, 1):
        print(f"  [{mode} summaries {i}/{len(tasks)}] {task['id']}", file=sys.stderr, flush=True)
        try:
            summary = summariser.summarise(task["topic"], lang=task["language"], source_languages=task["source_languages"])
        except LLMError as exc:
            errors.append({"id": task["id"], "error": str(exc)})
            continue
        records.append(score_summary(task, summary, judge, stems, hostile))
    return {
        "status": "ok", "tasks": len(records), "errors": errors, "seconds": round(time.perf_counter() - started, 1),
        "metrics": metrics.aggregate(records, ("split", "language"), metrics.SUMMARY_METRICS), "records": records,
    }


def make_judge(kind: str, settings: Settings, embedder: Embedder):
    if kind == "offline":
        return OfflineJudge(embedder)
    chat = make_chat_client(settings)
    if chat is None:
        raise LLMError("The llm judge needs a chat model: set RAG_LLM__BACKEND=local or openai.")
    return LLMJudge(chat)


def flat_metrics(result: dict) -> dict[str, float]:
    """What the baseline gates on: "mode/group/metric" for the answers' and "summary/mode/group/metric" for
    the summaries' overall, split and dataset groups with at least BASELINE_MIN_N questions or tasks, plus
    "judge/split/score" for the judge's own quality."""
    flat = {}
    for prefix, modes in (("", result["modes"]), ("summary/", result["summaries"]["modes"])):
        for mode, outcome in modes.items():
            for group, values in outcome.get("metrics", {}).items():
                if group.startswith(BASELINE_GROUPS):
                    flat |= {f"{prefix}{mode}/{group}/{name}": v["value"] for name, v in values.items() if v["n"] >= BASELINE_MIN_N}
    for split in ("tune", "heldout"):
        flat |= {f"judge/{split}/{name}": result["judge"][split][name] for name in ("accuracy", "precision", "recall")}
    return {key: round(value, 4) for key, value in flat.items()}


def run(
    suite: str = "ci",
    modes: Sequence[str] = ("extractive", "local"),
    judge: str = "offline",
    out_dir: Path = RESULTS,
    baseline: Path | None = None,
    tolerance: float = 0.05,
    *,
    datasets: Path = DATASETS,
    limit: int | None = None,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
) -> dict:
    """Run a suite and write its report; result["baseline"]["regressions"] lists what got worse.

    `limit` keeps that many gold questions (spread over types) for quick runs; `settings` defaults to
    the configured ones, `embedder` to the one they name (tests pass a loaded one to share it).
    """
    started = time.perf_counter()
    names = ["gold_seed.jsonl", "judge_pairs.jsonl"] + (["xquad_qa.jsonl"] if suite == "full" else [])
    data = load_datasets(datasets, names)
    summary_path = datasets / "summary_tasks.jsonl"
    summaries = load_dataset(summary_path) if summary_path.is_file() else []
    gold = spread(data["gold_seed.jsonl"], limit)
    base = settings or load_settings()
    with tempfile.TemporaryDirectory(prefix="rag-grounding-") as tmp:
        settings = eval_settings(base, Path(tmp))
        embedder = embedder or RagContext(settings).embedder
        injection = datasets / "injection_articles"
        folders = [CORPUS] + ([injection] if injection.is_dir() else [])
        hostile = sorted(p.stem for p in injection.glob("*.txt"))
        indexes = {"gold": build_index(settings, embedder, "gold", folders)}
        sets = {"gold": gold}
        if suite == "full":
            indexes["xquad"] = build_index(settings, embedder, "xquad", [write_xquad_corpus(Path(tmp) / "xquad")])
            sets["xquad"] = spread(data["xquad_qa.jsonl"], limit)
        the_judge = make_judge(judge, settings, embedder)
        judge_report = calibrate(the_judge, data["judge_pairs.jsonl"])
        result = {
            "suite": suite, "judge": judge_report, "modes": {},
            "settings": {"embedder": embedder.name, **settings.answer.model_dump(), "llm_model": settings.llm.model,
                         "local_model": settings.llm.local_model},
            "datasets": {name: len(rows) for name, rows in data.items()} | {"summary_tasks.jsonl": len(summaries)},
            "summaries": {"tasks": len(summaries), "modes": {}},
        }
        try:
            for mode in modes:
                result["modes"][mode] = _run_one_mode(mode, suite, settings, indexes, sets, the_judge)
                if summaries:
                    result["summaries"]["modes"][mode] = evaluate_summaries(mode, suite, summaries, *indexes["gold"], the_judge, hostile)
        finally:
            close_local_server()
    result["flat"] = flat_metrics(result)
    check_baseline(result, baseline, tolerance)
    result["seconds"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    write_report(result, out_dir)
    return result


def _run_one_mode(mode: str, suite: str, settings: Settings, indexes: dict, sets: dict, judge) -> dict:
    started = time.perf_counter()
    try:
        answerers = {name: Answerer(ctx, llm=MODES[mode]) for name, (ctx, _) in indexes.items()}
    except LLMError as exc:
        print(f"mode {mode} skipped: {exc}", file=sys.stderr)
        return {"status": f"skipped: {exc}"}
    records, errors = [], []
    for name, questions in sets.items():
        if suite == "ci" and mode != "extractive":
            questions = spread([q for q in questions if q["split"] == "tune"], CI_LLM_QUESTIONS)
        done, failed = run_mode(answerers[name], questions, judge, indexes[name][1], name)
        records += done
        errors += failed
    return {
        "status": "ok", "style": settings.answer.style, "questions": len(records), "errors": errors,
        "seconds": round(time.perf_counter() - started, 1),
        "metrics": metrics.aggregate(records), "records": records,
    }


def check_baseline(result: dict, baseline: Path | None, tolerance: float) -> None:
    """Set result["baseline"] to the comparison with the baseline file (None when there is none)."""
    result["baseline"] = None
    if baseline is not None and baseline.is_file():
        reference = json.loads(baseline.read_text(encoding="utf-8"))
        result["baseline"] = {"path": str(baseline), **metrics.compare(result["flat"], reference["metrics"], tolerance)}


def write_baseline(result: dict, path: Path, tolerance: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"suite": result["suite"], "tolerance": tolerance, "judge": result["judge"]["judge"],
               "threshold": result["judge"]["threshold"], "metrics": result["flat"]}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def parse_modes(text: str) -> list[str]:
    """"extractive,local" as a list; the `rag ask --llm` names count too ("none" is extractive)."""
    by_llm_name = {llm: mode for mode, llm in MODES.items()}
    return [by_llm_name.get(m.strip(), m.strip()) for m in text.split(",") if m.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rag eval", description="Grounding evaluation (see evals/README.md).")
    parser.add_argument("--suite", choices=("ci", "full"), default="ci")
    parser.add_argument("--modes", "--llm", dest="modes", help="comma-separated from extractive (or none, as `rag ask "
                        "--llm none`), local, openai (default: extractive,local; full adds openai when RAG_LLM__BASE_URL "
                        "or OPENAI_BASE_URL is set)")
    parser.add_argument("--judge", choices=("offline", "llm"), default="offline")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where result.json, report.md and charts go")
    parser.add_argument("--baseline", type=Path, help="baseline JSON (default: evals/baselines/<suite>.json)")
    parser.add_argument("--no-baseline", action="store_true", help="do not compare with a baseline")
    parser.add_argument("--tolerance", type=float, default=0.05, help="allowed absolute drop below the baseline")
    parser.add_argument("--write-baseline", type=Path, help="also save this run's metrics as a baseline")
    parser.add_argument("--limit", type=int, help="only this many gold questions, spread over the types")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    args = parser.parse_args(argv)
    if args.modes:
        modes = parse_modes(args.modes)
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)} (none = extractive)")
    baseline = None if args.no_baseline else args.baseline or BASELINES / f"{args.suite}.json"
    try:
        if not args.modes:
            modes = ["extractive", "local"] + (["openai"] if args.suite == "full" and load_settings().llm.base_url else [])
        result = run(args.suite, modes, args.judge, args.out, baseline, args.tolerance, datasets=args.datasets, limit=args.limit)
    except (DatasetError, LLMError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.write_baseline:
        write_baseline(result, args.write_baseline, args.tolerance)
    print(f"report: {args.out / 'report.md'}")
    return verdict(result)


def verdict(result: dict) -> int:
    """Print the baseline comparison; 1 when a metric regressed beyond the tolerance."""
    comparison = result["baseline"]
    if comparison is None:
        print("no baseline compared")
        return 0
    for row in comparison["improvements"]:
        print(f"improved: {row['metric']} {row['baseline']:.3f} -> {row['current']:.3f}")
    for row in comparison["regressions"]:
        print(f"REGRESSION: {row['metric']} {row['baseline']:.3f} -> {row['current']:.3f} "
              f"(more than {comparison['tolerance']:.2f} worse than {comparison['path']})")
    if comparison["not_measured"]:
        print(f"not measured in this run ({len(comparison['not_measured'])}): {', '.join(comparison['not_measured'][:8])}...")
    if comparison["regressions"]:
        print(f"FAILED: {len(comparison['regressions'])} metric(s) regressed beyond the tolerance")
        return 1
    print(f"ok: no metric more than {comparison['tolerance']:.2f} below the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
