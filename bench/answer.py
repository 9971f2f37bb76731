"""Answer latency with the configured LLM (default: the bundled local model), in one run.

    python -m bench.answer [--llm local] [--questions 6]

Per question: retrieval ms, prompt tokens, time to first token, total time, and the pipeline's overhead
over a raw LLM call with the very same prompt (streamed, same parameters). Targets (answering issue) on
this 2-core machine with the embedded model: median TTFT <= 12 s, median total <= 25 s, overhead <= 10%.

With prompt caching on (the default for the bundled server), the server's cache is reset to the shared
instructions before each timed call, pipeline and raw alike: the steady state of a session where the
previous question had other evidence. `--no-cache-prompt` measures without any reuse.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import save
from rag.answer import Answerer
from rag.config import load_settings
from rag.context import RagContext
from rag.generate import SYSTEM_PROMPT, answer_messages
from rag.ingest.pipeline import ingest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
QUESTIONS = [
    "Who did the Russian defence minister meet in Tehran?",
    "Combien de personnes ont été tuées dans l'attentat de Kerman ?",
    "Was sagte Mossad-Chef David Barnea über Russland und Iran?",
    "ما هي الأسلحة التي تفقدها شويغو في طهران؟",
    "¿Quién es Ali Akbar Ahmadian?",
    "When did Patrushev meet the Iranian police chief?",
    "What did Amir-Abdollahian say about drones delivered to Russia?",
    "Who claimed responsibility for the Kerman bombing?",
]


def _raw_call(answerer: Answerer, messages, **overrides) -> tuple[float, float]:
    """(seconds to first token, total seconds) of the bare LLM call the pipeline makes."""
    started = time.perf_counter()
    first = None
    for _ in answerer.chat.stream(messages, **overrides):
        first = first or time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def _reset_cache(answerer: Answerer) -> None:
    """Leave only the instructions shared by every answer prompt in the server's prompt cache."""
    answerer.chat.complete([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Hello"}], max_tokens=1)


def run(llm: str, count: int, cache_prompt: bool = True) -> dict:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), llm={"backend": llm, "cache_prompt": cache_prompt})
        ctx = RagContext(settings)
        ingest([CORPUS], settings, ctx.store, ctx.embedder)
        answerer = Answerer(ctx, llm=llm)
        answerer.answer("warm-up: who is Patrushev?")  # server start and model load are not per-question costs
        rows = []
        for question in QUESTIONS[:count]:
            _reset_cache(answerer)
            started = time.perf_counter()
            result = answerer.answer(question, on_token=lambda _: None)
            total = time.perf_counter() - started
            row = {"question": question, "abstained": result.abstained, "retrieval_ms": result.timings_ms.get("retrieval"),
                   "evidence_ms": result.timings_ms.get("evidence"), "prompt_tokens": result.tokens.get("prompt", 0),
                   "completion_tokens": result.tokens.get("completion", 0), "total_s": round(total, 2)}
            if "first_token" in result.timings_ms:
                laps = result.timings_ms
                row["ttft_s"] = round(sum(laps.get(k, 0) for k in ("condense", "retrieval", "evidence", "first_token")) / 1000, 2)
                _reset_cache(answerer)
                messages = answer_messages(result.standalone_question, result.evidence, result.language)
                raw_first, raw_total = _raw_call(answerer, messages)
                row["raw_llm_ttft_s"], row["raw_llm_total_s"] = round(raw_first, 2), round(raw_total, 2)
                row["overhead"] = round(total / raw_total - 1, 3)
                if cache_prompt:  # the same prompt read whole: what the cache saves, in this same run
                    uncached_first, _ = _raw_call(answerer, messages, max_tokens=1, extra_body={"cache_prompt": False})
                    row["raw_llm_ttft_uncached_s"] = round(uncached_first, 2)
                    row["cache_ttft_ratio"] = round(raw_first / uncached_first, 3)
            rows.append(row)
    generated = [r for r in rows if "overhead" in r]

    def median(key: str) -> float | None:
        return round(statistics.median(r[key] for r in generated), 3) if generated else None

    return {"llm": llm, "cache_prompt": cache_prompt, "load_average": {"before": load_before, "after": os.getloadavg()},
            "questions": rows, "median_ttft_s": median("ttft_s"), "median_total_s": median("total_s"),
            "median_overhead": median("overhead"), "median_cache_ttft_ratio": median("cache_ttft_ratio") if cache_prompt else None,
            "targets": {"median_ttft_s": 12, "median_total_s": 25, "overhead": 0.10}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="local", choices=["local", "openai"])
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--no-cache-prompt", dest="cache_prompt", action="store_false",
                        help="Send cache_prompt=false (bit-for-bit repeatable, slower) instead of the default.")
    parser.add_argument("--name", help="results name (default answer-<llm>), e.g. to keep a run with RAG_LLM__LOCAL_THREADS=2 apart")
    args = parser.parse_args(argv)
    result = run(args.llm, args.questions, args.cache_prompt)
    lines = ["| question | retrieval ms | prompt tok | TTFT s | total s | raw LLM s | overhead |", "|---|---|---|---|---|---|---|"]
    for r in result["questions"]:
        lines.append(f"| {r['question'][:50]} | {r['retrieval_ms']} | {r['prompt_tokens']} | {r.get('ttft_s', '-')} | {r['total_s']} | "
                     f"{r.get('raw_llm_total_s', '-')} | {r.get('overhead', 'abstained early')} |")
    lines.append(f"\nMedian TTFT {result['median_ttft_s']} s (target <= 12), median total {result['median_total_s']} s "
                 f"(target <= 25), median overhead {result['median_overhead']} (target <= 0.10).\n"
                 f"Prompt cache {'on' if args.cache_prompt else 'off'}"
                 + (f" (raw-call TTFT with the cache / reading the whole prompt: {result['median_cache_ttft_ratio']})" if args.cache_prompt else "")
                 + f"; {load_settings().llm.local_threads} llama.cpp thread(s) for the local server; load average before/after "
                 f"{result['load_average']['before'][0]:.2f} / {result['load_average']['after'][0]:.2f} (2 cores).")
    print(save(args.name or f"answer-{args.llm}", result, f"# Answer latency ({args.llm})\n\n" + "\n".join(lines)).read_text())


if __name__ == "__main__":
    main()
