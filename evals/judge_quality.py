"""How far a judge can be trusted, on its own: score it on the labelled claim/evidence pairs
(datasets/judge_pairs.jsonl) without running the whole grounding suite, e.g. the LLM judge, which the
suites only use when asked (`--judge llm`) because it costs one model call per claim.

    python -m evals.judge_quality --judge llm [--split heldout]      # the configured chat model
    python -m evals.judge_quality --judge offline                    # tuned on `tune`, as in the suites

Writes OUT.json (every verdict) and OUT.md (accuracy, precision, recall per split and per kind of pair).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from evals.grounding import DATASETS, RESULTS, load_dataset, make_judge
from evals.judges import calibrate
from rag.config import ConfigError, load_settings
from rag.context import RagContext
from rag.llm.client import LLMError
from rag.llm.local_server import close_local_server


def markdown(report: dict, seconds: float, split: str) -> str:
    def row(name: str, s: dict) -> str:
        return f"| {name} | {s['n']} | {s['accuracy']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |"

    head = ["| pairs | n | accuracy | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    lines = [f"# Judge quality: {report['judge']}", "",
             f"Labelled pairs: {split}; {seconds:.0f} s in all"
             + (f"; {report['unparseable']} replies without a verdict (counted as unsupported)" if "unparseable" in report else "")
             + ". Positive = supported.", "", *head]
    lines += [row(name, report[name]) for name in ("tune", "heldout") if report[name]["n"]]
    lines += ["", "By kind of pair (supported kinds: paraphrase, partial, translation; the rest are hard negatives):", "", *head]
    lines += [row(kind, s) for kind, s in report["by_kind"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.judge_quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", choices=("offline", "llm"), default="llm")
    parser.add_argument("--split", choices=("all", "tune", "heldout"), default="all",
                        help="which labelled pairs (the offline judge is always tuned on the tune pairs)")
    parser.add_argument("--out", type=Path, help="OUT.json and OUT.md (default evals/results/judge-<judge>)")
    args = parser.parse_args(argv)
    out = args.out or RESULTS.parent / f"judge-{args.judge}"
    pairs = load_dataset(DATASETS / "judge_pairs.jsonl")
    if args.split != "all" and args.judge == "llm":
        pairs = [p for p in pairs if p["split"] == args.split]
    started = time.perf_counter()
    try:
        settings = load_settings()
        embedder = RagContext(settings).embedder if args.judge == "offline" else None
        report = calibrate(make_judge(args.judge, settings, embedder), pairs)
    except (ConfigError, LLMError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        close_local_server()
    seconds = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"split": args.split, "seconds": round(seconds, 1), **report},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")
    text = markdown(report, seconds, args.split)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
