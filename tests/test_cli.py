"""The `rag` command as a user runs it: real subprocesses, real embedder, embedded Chroma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.rag_fixtures import ARABIC, REPO

SECRET = "sk-very-secret-value-123"


def rag(*args: str, data: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_EMBEDDER__NAME": "use", **env}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], env=full_env, cwd=data.parent,
                          capture_output=True, text=True, timeout=600)


def test_ingest_sources_search_and_extractive_ask(tmp_path, corpus_copy):
    data = tmp_path / "data"
    first = rag("ingest", str(corpus_copy), data=data)
    assert first.returncode == 0, first.stderr
    assert "3 added" in first.stdout
    again = rag("ingest", str(corpus_copy), data=data)
    assert "3 unchanged" in again.stdout and "0 chunks written" in again.stdout

    listed = json.loads(rag("sources", "--json", data=data).stdout)
    assert sorted(d["language"] for d in listed) == ["ar", "de", "fr"]

    found = json.loads(rag("search", "Shoigu visited the aerospace forces exhibition", "--lang", "ar", "--json", data=data).stdout)
    assert found and all(h["language"] == "ar" for h in found) and Path(found[0]["path"]).stem == ARABIC

    asked = rag("ask", "How many people were killed in the Kerman bombing?", "--llm", "none", "--json", data=data)
    answer = json.loads(asked.stdout)
    assert not answer["abstained"] and "[1]" in answer["answer"]
    assert any("94" in c["text"] for c in answer["citations"])


def test_bad_settings_and_unreachable_services_are_one_line_errors(tmp_path):
    data = tmp_path / "data"
    bad = rag("search", "x", data=data, RAG_CHROMA__PORT="not-a-port")
    assert bad.returncode == 2 and "RAG_CHROMA__PORT" in bad.stderr and "Traceback" not in bad.stderr

    down = rag("search", "x", data=data, RAG_CHROMA__HOST="127.0.0.1", RAG_CHROMA__PORT="9", RAG_CHROMA__AUTH_TOKEN=SECRET)
    assert down.returncode == 2 and "Chroma server at 127.0.0.1:9" in down.stderr
    assert "Traceback" not in down.stderr and SECRET not in down.stderr + down.stdout

    wrong_flag = rag("ask", "x", "--llm", "gpt", data=data)
    assert wrong_flag.returncode == 2 and "--llm must be" in wrong_flag.stderr


def test_unreachable_llm_is_a_clear_error(tmp_path, corpus_copy):
    data = tmp_path / "data"
    rag("ingest", str(corpus_copy), data=data)
    down = rag("ask", "How many people were killed in the Kerman bombing?", "--llm", "openai", data=data,
               OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY=SECRET, RAG_LLM__MAX_RETRIES="0")
    assert down.returncode == 2 and "Cannot reach the LLM" in down.stderr
    assert "Traceback" not in down.stderr and SECRET not in down.stderr + down.stdout


def test_config_redacts_secrets(tmp_path):
    shown = rag("config", data=tmp_path / "data", OPENAI_API_KEY=SECRET, RAG_CHROMA__AUTH_TOKEN=SECRET)
    assert shown.returncode == 0
    settings = json.loads(shown.stdout)
    assert settings["llm"]["api_key"] == "**********" and settings["chroma"]["auth_token"] == "**********"
    assert SECRET not in shown.stdout + shown.stderr


def test_settings_from_a_toml_file(tmp_path):
    toml = tmp_path / "custom.toml"
    toml.write_text('[chroma]\ncollection = "from-toml"\n\n[answer]\nk = 9\n', encoding="utf-8")
    shown = json.loads(rag("config", data=tmp_path / "data", RAG_CONFIG=str(toml)).stdout)
    assert shown["chroma"]["collection"] == "from-toml" and shown["answer"]["k"] == 9
    missing = rag("config", data=tmp_path / "data", RAG_CONFIG=str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "not a file" in missing.stderr


def test_help_teaches_every_command():
    shown = subprocess.run([sys.executable, "-m", "rag.cli", "--help"], capture_output=True, text=True, cwd=REPO)
    for command in ("ingest", "sources", "search", "ask", "eval", "config", "doctor", "quickstart"):
        assert command in shown.stdout
