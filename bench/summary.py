"""Summary time and the issue's target check, extractive and with the bundled local model, in one run.

    python -m bench.summary [--llm none local] [--length medium]

The target (summaries issue): an English summary of "Russia–Iran security and military cooperation"
over the seed corpus cites all three articles, names Patrushev, Ahmadian, Shoigu, Bagheri and Ashtiani
(any spelling or script, as task s001 of evals/datasets/summary_tasks.jsonl lists them), and has no
sentence that verification rejected.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import save
from rag.config import load_settings
from rag.context import RagContext
from rag.ingest.pipeline import ingest
from rag.summarise import Summariser

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
TASK = next(t for t in map(json.loads, (ROOT / "evals" / "datasets" / "summary_tasks.jsonl").read_text(encoding="utf-8").splitlines())
            if t["id"] == "s001")
NAMES = dict(zip(("Patrushev", "Ahmadian", "Shoigu", "Bagheri", "Ashtiani"), TASK["facts"]))


def _check(summary, stems: dict[str, str]) -> dict:
    text = summary.text.casefold()
    cited = sorted({stems[ev.doc_id] for ev in summary.citations})
    names = {name: any(s.casefold() in text for s in fact["any_of"]) for name, fact in NAMES.items()}
    return {"cites_all_three": cited == sorted(TASK["documents"]), "cited": cited, "names": names,
            "all_names": all(names.values()), "rejected": len(summary.dropped)}


def run(llms: list[str], length: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp))
        ctx = RagContext(settings)
        ingest([CORPUS], settings, ctx.store, ctx.embedder)
        stems = {rec.doc_id: Path(rec.path).stem for rec in ctx.store.documents().values()}
        rows = []
        for llm in llms:
            started = time.perf_counter()
            summariser = Summariser(ctx, llm=llm)
            if summariser.chat is not None:  # server start and model load are not per-summary costs
                summariser.chat.complete([{"role": "user", "content": "Say OK."}], max_tokens=1)
            startup = time.perf_counter() - started
            started = time.perf_counter()
            summary = summariser.summarise(TASK["topic"], lang=TASK["language"], length=length)
            rows.append({"llm": llm, "mode": summary.mode, "length": length, "startup_s": round(startup, 1),
                         "total_s": round(time.perf_counter() - started, 1), "timings_ms": summary.timings_ms,
                         "tokens": summary.tokens, "points": len(summary.points), **_check(summary, stems),
                         "dropped": [{"text": p.text, "note": p.note, "support": round(p.support, 3)} for p in summary.dropped],
                         "agreements": len(summary.agreements), "differences": len(summary.differences),
                         "names_used": summary.names, "summary": summary.text})
    return {"topic": TASK["topic"], "language": TASK["language"], "summaries": rows,
            "target": "cites all three articles, names all five people, no rejected sentence"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", nargs="+", default=["none", "local"], choices=["none", "local", "openai"])
    parser.add_argument("--length", default="medium", choices=["short", "medium", "long"])
    args = parser.parse_args(argv)
    result = run(args.llm, args.length)
    lines = ["| mode | length | total s | map s | prompt tok | points | cites all 3 | names found | rejected |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["summaries"]:
        found = ", ".join(n for n, ok in r["names"].items() if ok) or "none"
        lines.append(f"| {r['mode']} | {r['length']} | {r['total_s']} | {r['timings_ms'].get('map', 0) / 1000:.1f} | "
                     f"{r['tokens'].get('prompt', '-')} | {r['points']} | {'yes' if r['cites_all_three'] else 'no: ' + ', '.join(r['cited'])} | "
                     f"{found} | {r['rejected']} |")
    for r in result["summaries"]:
        lines += ["", f"## {r['mode']} ({r['length']})", "", r["summary"]]
        lines += [f"- rejected ({d['note']}, support {d['support']}): {d['text']}" for d in r["dropped"]]
    print(save(f"summary-{args.length}", result, f"# Summary: {result['topic']} ({result['language']})\n\n" + "\n".join(lines)).read_text())


if __name__ == "__main__":
    main()
