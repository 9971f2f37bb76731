"""`rag ingest` killed with SIGKILL again and again, at points spread over whole runs (start-up, preparing
and embedding files, Chroma writes), with articles added and rewritten between runs: after every kill the
index holds only whole documents, and a final run leaves exactly what a clean ingest of the files gives."""

from __future__ import annotations

import os
import random
import re
import select
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.ingest.index_checks import assert_consistent, ingest_paths
from tests.rag_fixtures import ARABIC, CORPUS, FRENCH, GERMAN, REPO, make_context

ARTICLES = 12
KILLS = 20


def _write_articles(folder: Path, editions: dict[int, int]) -> None:
    """Small articles (two paragraphs, 2-3 chunks) cut from the seeds; a new edition is a new version."""
    seeds = [(CORPUS / f"{stem}.txt").read_text(encoding="utf-8").split() for stem in (FRENCH, ARABIC, GERMAN)]
    for i, edition in editions.items():
        words = seeds[i % 3]
        start = i * 53 % (len(words) - 160)
        text = " ".join(words[start : start + 80]) + "\n\n" + " ".join(words[start + 80 : start + 160])
        (folder / f"{i:02d}.txt").write_text(f"{text}\n\nDépêche {i}, édition {edition}.\n", encoding="utf-8")


def _db_state(data: Path) -> tuple[int, int]:
    """Size and mtime of Chroma's SQLite file: they change when a write transaction commits."""
    info = (data / "chroma" / "chroma.sqlite3").stat()
    return info.st_size, info.st_mtime_ns


def _run_and_kill(command: list[str], env: dict, data: Path, delay: float, at_commit: tuple[int, int] | None) -> tuple[bool, int | None]:
    """Start `rag ingest` and SIGKILL it after `delay` seconds or, with `at_commit` = (files, n), right after
    the n-th SQLite commit once the progress bar shows that many files done (a batch's write to Chroma
    takes about eight commits). Returns whether it was still running, and how many files its progress bar
    showed as done (None: killed in start-up, before the files were listed)."""
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    output, db, commits = b"", None, 0
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0 and proc.poll() is None:
        if select.select([proc.stderr], [], [], min(left, 0.002))[0]:
            output += os.read(proc.stderr.fileno(), 1 << 16)
        if at_commit is not None:
            done = re.findall(rb"(\d+)/\d+", output)
            if db is None and done and int(done[-1]) >= at_commit[0]:
                db = _db_state(data)
            elif db is not None and _db_state(data) != db:
                db, commits = _db_state(data), commits + 1
                if commits == at_commit[1]:
                    break
    alive = proc.poll() is None
    if alive:
        proc.kill()
    output += proc.stderr.read()
    proc.wait()
    done = re.findall(rb"(\d+)/\d+", output)
    return alive, int(done[-1]) if done else None


def test_sigkill_at_any_point_leaves_whole_documents_and_a_rerun_matches_a_clean_ingest(tmp_path):
    """Each round rewrites half the articles, adds one and deletes one, then kills `rag ingest --prune`
    after a delay spread from 0.5 s to the length of a full run or, every fourth round, inside a batch's
    Chroma writes. Where kills land: "start-up" (before the files were listed), "files" (preparing,
    embedding, or between writes), "Chroma write" (uncommitted chunks left), "finished" (too late)."""
    articles, data = tmp_path / "articles", tmp_path / "data"
    articles.mkdir()
    _write_articles(articles, dict.fromkeys(range(ARTICLES), 0))
    # FORCE_COLOR: rich draws the progress bar into the pipe, which tells where each kill landed.
    env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_EMBEDDER__NAME": "use", "RAG_EMBEDDER__BATCH_SIZE": "4", "FORCE_COLOR": "1"}
    command = [sys.executable, "-m", "rag.cli", "ingest", "--prune", str(articles)]
    started = time.monotonic()
    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    full_run = time.monotonic() - started

    rng = random.Random(8)
    delays = [0.5 + (0.95 * full_run - 0.5) * k / (KILLS - 1) for k in range(KILLS)]
    rng.shuffle(delays)
    phases: Counter[str] = Counter()
    for kill, delay in enumerate(delays, start=1):
        present = sorted(int(p.stem) for p in articles.glob("*.txt"))
        (articles / f"{rng.choice(present):02d}.txt").unlink()
        _write_articles(articles, dict.fromkeys([*rng.sample(present, len(present) // 2), ARTICLES + kill], kill))
        at_commit = (rng.randint(1, ARTICLES // 2), rng.randint(1, 8)) if kill % 4 == 0 else None
        alive, done = _run_and_kill(command, env, data, 2 * full_run if at_commit else delay, at_commit)
        ctx = make_context(data, embedder="use")
        index = assert_consistent(ctx, allow_uncommitted=True)
        uncommitted = ctx.store.count() - sum(len(chunks) for _, chunks in index.values())
        phases["finished" if not alive else "start-up" if done is None else "Chroma write" if uncommitted else "files"] += 1
    print(f"{KILLS} kills, a full run taking {full_run:.1f} s: {dict(phases)}")
    assert phases["start-up"] >= 1 and phases["Chroma write"] >= 1, phases
    assert phases["files"] + phases["Chroma write"] >= KILLS // 3, phases  # killed mid-run, not before or after

    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True, timeout=600)
    resumed = assert_consistent(make_context(data, embedder="use"))
    assert set(resumed) == {p.name for p in articles.glob("*.txt")}
    clean = make_context(tmp_path / "clean", embedder="use")
    ingest_paths(clean, articles)
    assert assert_consistent(clean) == resumed
