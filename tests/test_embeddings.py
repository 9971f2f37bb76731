"""The e5 engine's thread use, observed from outside: a single question must not wake a second OpenMP
thread (it sleeps between searches and waking it costs more than it saves), a batch must use them."""

from __future__ import annotations

import subprocess
import sys

from tests.rag_fixtures import REPO

PROBE = """
import os
from rag.config import Settings
from rag.embeddings import make_embedder

def threads():
    return len(os.listdir("/proc/self/task"))

e5 = make_embedder(Settings(embedder={"name": "e5-small", "threads": 2}))
before = threads()
e5.embed_queries(["Who invited the Russian defence minister to Iran?"])
after_question = threads()
e5.embed_passages(["Le ministre russe de la Défense est arrivé à Téhéran mardi pour deux jours de visite."] * 8)
print(before, after_question, threads())
"""


def test_a_single_question_runs_on_one_thread_and_a_batch_on_the_configured_two():
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                         env={"PATH": "/usr/bin:/bin", "OMP_WAIT_POLICY": "passive"})
    assert run.returncode == 0, run.stderr[-2000:]
    before, after_question, after_batch = map(int, run.stdout.split()[-3:])
    assert after_question == before  # no OpenMP worker was started for the question
    assert after_batch == before + 1  # the batch's second thread
