"""The web UI under concurrent users on loopback (issue #8): no errors, queueing visible, p50/p95 reported.

    python -m bench.load                  # extractive answers: 1 session, then 8 sessions for 2 min (~7 min)
    python -m bench.load --llm local      # the bundled LLM: fewer, longer requests (3 sessions for 5 min)
    python -m bench.load --sessions 4 --duration-s 60 --baseline 4

The app runs as a user starts it: `python -m ui --port P` in a subprocess, over a temporary
RAG_DATA_DIR holding the seed corpus (ingested first with `rag ingest corpus`), default embedder,
RAG_LLM__BACKEND=none (extractive answers, so the bench measures the app rather than the model) or
local. Each session is its own gradio_client Client (its own Gradio session) and asks the questions of
evals/datasets/gold_seed.jsonl in turn, from its own starting point, on the `/ask` endpoint (the Ask
button), each in a new conversation (`/lambda`, the New conversation button, untimed), so a request
costs the same work at any concurrency.

Phases, in one run: warm-up (untimed: model load, and one pass over the questions to fill the
sentence-vector cache as a running app has it), --baseline requests from one session, then --sessions
sessions for --duration-s (a request started before the end is finished and counted). Per request:
latency (submit to final output), the answer's own time (shown under it by the app: retrieval to
verified text), queue wait (submit until Gradio reports the request processing) and the largest queue
rank Gradio reported. Answers go through one generation queue (ui.app.GENERATION_CONCURRENCY), so with
N sessions latency should be about N times the single-session one: the ratio of the two p50s, measured
in the same run, shows the queue, and so does latency minus the answer's own time. An error is an
exception, a message in the UI's notice area or a reply without an answer; the target is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gradio_client import Client
from gradio_client.utils import Status

from bench.common import free_port, load_average, peak_rss_mb, rss_mb, save

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "evals" / "datasets" / "gold_seed.jsonl"
STARTED = {Status.PROCESSING, Status.ITERATING, Status.PROGRESS, Status.FINISHED}
ANSWER_TIME = re.compile(r'class="answer-meta">[^<]*?([0-9.]+) s</div>')  # the app's own time for the answer
DEFAULTS = {"none": {"sessions": 8, "duration_s": 120, "baseline": 8, "warmup": 70},
            "local": {"sessions": 3, "duration_s": 300, "baseline": 2, "warmup": 2}}


class UIServer:
    """`python -m ui` on a free loopback port over `data_dir`; stopped with Ctrl+C's signal so the app
    shuts its bundled LLM server down."""

    def __init__(self, data_dir: Path, llm: str, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_LLM__BACKEND": llm}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 600) -> UIServer:
        with self.log.open("wb") as out:
            # A run started in the background inherits an ignored SIGINT; the app needs it to stop cleanly.
            self.proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(self.port)], cwd=REPO, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the UI exited at start: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the UI did not listen within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own process group: the app and its LLM server
            self.proc.wait()

    def log_problems(self) -> list[str]:
        """Lines of the app's log that report an error."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if re.search(r"Traceback|ERROR|Exception", line)]


def ingest_corpus(data_dir: Path, env: dict[str, str]) -> str:
    """`rag ingest corpus` into `data_dir`, as the README's quick start does; returns its summary line."""
    rag = Path(sys.executable).with_name("rag")
    done = subprocess.run([str(rag), "ingest", str(REPO / "corpus")], env={**env, "RAG_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[0]


def ask(client: Client, question: str) -> dict:
    """One question in a new conversation: latency, queue wait, largest queue rank, the answer's own time
    (shown under it: retrieval to verified text, inside the app), error if any."""
    client.predict(api_name="/lambda")
    started = time.perf_counter()
    job = client.submit(question, "auto", [], api_name="/ask")
    queued_s, rank = None, 0
    while not job.done():
        status = job.status()
        rank = max(rank, (status.rank or 0) + 1 if status.code == Status.IN_QUEUE else 0)
        if queued_s is None and status.code in STARTED:
            queued_s = time.perf_counter() - started
        time.sleep(0.02)
    row = {"question": question, "started": started, "queue_rank": rank}
    try:
        outputs = job.result()
    except Exception as exc:  # the request failed: counted, not raised, so the run goes on
        return {**row, "error": f"{type(exc).__name__}: {exc}"[:300], "latency_s": time.perf_counter() - started}
    row["latency_s"] = time.perf_counter() - started
    row["queue_s"] = queued_s if queued_s is not None else row["latency_s"]
    notice = re.sub(r"<[^>]+>", " ", outputs[4] or "").strip()
    answered = ANSWER_TIME.findall(outputs[0] or "")
    if notice or not answered:
        row["error"] = notice[:300] or "no answer in the transcript"
    else:
        row["answer_s"] = float(answered[-1])
    return row


def run_sessions(url: str, questions: list[str], sessions: int, stop_after: Callable[[int, float], bool]) -> tuple[list[dict], float]:
    """`sessions` clients asking in parallel until `stop_after(asked_by_this_session, elapsed_s)`; all rows, wall s."""
    rows: list[dict] = []
    lock = threading.Lock()
    clients = [Client(url, verbose=False) for _ in range(sessions)]
    started = time.perf_counter()

    def session(n: int) -> None:
        asked = 0
        while not stop_after(asked, time.perf_counter() - started):
            row = ask(clients[n], questions[(n * len(questions) // sessions + asked) % len(questions)])
            row["session"] = n
            with lock:
                rows.append(row)
            asked += 1

    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return rows, time.perf_counter() - started


def summary(rows: list[dict], wall_s: float, sessions: int) -> dict:
    ok = [r for r in rows if "error" not in r]
    latencies = sorted(r["latency_s"] for r in ok)
    waits = [r["queue_s"] for r in ok]
    outside = [r["latency_s"] - r["answer_s"] for r in ok]

    def pct(values: list[float], q: int) -> float | None:
        return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2) if len(values) > 1 else (
            round(values[0], 2) if values else None)

    return {"sessions": sessions, "requests": len(rows), "errors": len(rows) - len(ok),
            "error_messages": sorted({r["error"] for r in rows if "error" in r}),
            "wall_s": round(wall_s, 1), "throughput_per_min": round(len(ok) / wall_s * 60, 2),
            "latency_s": {"p50": pct(latencies, 50), "p95": pct(latencies, 95), "max": round(max(latencies), 2) if latencies else None},
            "answer_s": {"p50": pct([r["answer_s"] for r in ok], 50), "p95": pct([r["answer_s"] for r in ok], 95)},
            "outside_answer_s": {"p50": pct(outside, 50), "p95": pct(outside, 95)},
            "queue_wait_s": {"p50": pct(waits, 50), "p95": pct(waits, 95), "max": round(max(waits), 2) if waits else None},
            "max_queue_rank": max((r["queue_rank"] for r in rows), default=0)}


def run(llm: str, sessions: int, duration_s: float, baseline: int, warmup: int) -> dict:
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    load_start = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        server = UIServer(Path(tmp) / "data", llm, Path(tmp) / "ui.log")
        ingested = ingest_corpus(Path(tmp) / "data", server.env)
        server.start()
        try:
            url = server.url
            warm, _ = run_sessions(url, questions[::-1], 1, lambda asked, _: asked >= warmup)
            single, single_s = run_sessions(url, questions, 1, lambda asked, _: asked >= baseline)
            load_before = load_average()
            crowd, crowd_s = run_sessions(url, questions, sessions, lambda _, elapsed: elapsed >= duration_s)
            load_after = load_average()
            memory = {"ui_rss_mb": rss_mb(server.proc.pid), "ui_peak_rss_mb": peak_rss_mb(server.proc.pid)}
        finally:
            server.stop()
        problems = server.log_problems()
    one, many = summary(single, single_s, 1), summary(crowd, crowd_s, sessions)
    return {"llm": llm, "corpus": ingested, "questions": len(questions),
            "warmup": {"requests": len(warm), "latency_s": [round(r["latency_s"], 2) for r in warm],
                       "errors": sum("error" in r for r in warm)},
            "single_session": one, "concurrent": many,
            "latency_ratio_p50": round(many["latency_s"]["p50"] / one["latency_s"]["p50"], 2) if one["latency_s"]["p50"] and many["latency_s"]["p50"] else None,
            "throughput_ratio": round(many["throughput_per_min"] / one["throughput_per_min"], 2) if one["throughput_per_min"] else None,
            "ui_log_error_lines": problems[:20], **memory,
            "load_start": load_start, "load_before_concurrent": load_before, "load_after_concurrent": load_after, "load_end": load_average(),
            "requests": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "started"} for r in single + crowd]}


def markdown(r: dict) -> str:
    one, many = r["single_session"], r["concurrent"]
    lines = [f"# Web UI under load ({r['llm']})", "",
             (f"`python -m ui` on loopback, RAG_LLM__BACKEND={r['llm']}, default embedder, seed corpus ({r['corpus']}); "
              f"gold-seed questions on `/ask` via gradio_client, one new conversation per question. "
              f"Load average (1, 5, 15 min): start {r['load_start']}, before the concurrent phase {r['load_before_concurrent']}, "
              f"after it {r['load_after_concurrent']}, end {r['load_end']} (shared 2-core machine)."), "",
             ("| phase | sessions | requests | errors | wall s | answers/min | latency p50 s | p95 s | max s | answer's own time p50 s "
              "| latency minus it p50 s | p95 s | queue wait p50 s | p95 s | max queue rank |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in (("single session", one), ("concurrent", many)):
        lines.append(f"| {name} | {s['sessions']} | {s['requests']} | {s['errors']} | {s['wall_s']} | {s['throughput_per_min']} | "
                     f"{s['latency_s']['p50']} | {s['latency_s']['p95']} | {s['latency_s']['max']} | {s['answer_s']['p50']} | "
                     f"{s['outside_answer_s']['p50']} | {s['outside_answer_s']['p95']} | {s['queue_wait_s']['p50']} | "
                     f"{s['queue_wait_s']['p95']} | {s['max_queue_rank']} |")
    lines += ["", (f"Latency p50 with {many['sessions']} sessions / with 1: **{r['latency_ratio_p50']}x**; throughput ratio "
                   f"{r['throughput_ratio']}x. Answers and summaries share one generation slot (ui.app.GENERATION_CONCURRENCY = 1): "
                   "more sessions wait in Gradio's queue (queue wait, queue rank, latency minus the answer's own time) "
                   "while the answers per minute level off at about one per slot time. Queue wait counts from submit until "
                   "gradio_client reports the request processing, so it includes joining the queue (the single-session row). "
                   f"Errors: {one['errors'] + many['errors']}"
                   + (f" ({'; '.join(one['error_messages'] + many['error_messages'])})" if one["errors"] + many["errors"] else "")
                   + f"; error lines in the app's log: {len(r['ui_log_error_lines'])}. "
                   f"UI process RSS {r['ui_rss_mb']} MB at the end (peak {r['ui_peak_rss_mb']} MB). "
                   f"Warm-up (untimed, {r['warmup']['requests']} requests): median {statistics.median(r['warmup']['latency_s']):.2f} s, "
                   f"max {max(r['warmup']['latency_s']):.2f} s.")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="none", choices=["none", "local"], help="none: extractive answers (default); local: the bundled LLM")
    parser.add_argument("--sessions", type=int, help="concurrent sessions (default 8; 3 with --llm local)")
    parser.add_argument("--duration-s", type=float, help="length of the concurrent phase (default 120; 300 with --llm local)")
    parser.add_argument("--baseline", type=int, help="requests from a single session first (default 8; 2 with --llm local)")
    parser.add_argument("--warmup", type=int, help="untimed requests before, to load the models and fill the sentence-vector "
                        "cache as a running app has it (default 70, one pass over the questions; 2 with --llm local)")
    args = parser.parse_args(argv)
    chosen = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in DEFAULTS[args.llm].items()}
    result = run(args.llm, **chosen)
    print(save(f"load-{args.llm}", result, markdown(result)).read_text())


if __name__ == "__main__":
    main()
