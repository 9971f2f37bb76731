"""The UI's handlers and startup without a browser: streaming, history, friendly errors, secrets, login, queues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rag.answer import Answer
from rag.cite import Claim
from rag.evidence import Evidence
from rag.ingest.pipeline import ingest
from tests.rag_fixtures import CORPUS, GERMAN, REPO, free_port, make_context
from ui.app import EMPTY_INDEX, _Handlers, build_app, is_loopback, launch, main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # gr.Warning outside a request only warns

EVIDENCE = Evidence(1, "Schoigu traf Bagheri.", "d", "c", "Titel", "Zeitung", None, "de", "/p", 0, 21,
                    "Schoigu traf Bagheri.", 0, 0.9)


class SlowAnswerer:
    """Streams a draft token by token, then returns a verified answer; records what it was asked."""

    chat = object()

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def answer(self, question, **kw):
        self.calls.append(kw)
        for piece in ("Shoigu ", "met ", "Bagheri [1]."):
            kw["on_token"](piece)
            time.sleep(0.4)
        claim = Claim("Shoigu met Bagheri.", [1], [1], supported=True)
        return Answer(question, "en", "Shoigu met Bagheri [1].", [claim], [EVIDENCE], False, "fake")


@pytest.fixture(scope="module")
def german_index(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("german")
    ctx = make_context(data)
    assert ingest([CORPUS / f"{GERMAN}.txt"], ctx.settings, ctx.store, ctx.embedder).count("added") == 1
    return data


def test_draft_streams_then_the_verified_answer_replaces_it_and_history_follows(tmp_path, monkeypatch):
    handlers = _Handlers(make_context(tmp_path))
    handlers._answerer = answerer = SlowAnswerer()
    monkeypatch.setattr(handlers, "_require_documents", lambda: None)

    views = list(handlers.ask("Who did Shoigu meet?", "auto", [], []))
    transcripts = [v[0] for v in views]
    assert "Searching the articles" in transcripts[0] and views[0][6] == ""  # the question box is cleared
    drafts = [t for t in transcripts if 'class="draft"' in t]
    assert any("Shoigu met" in t and "Bagheri" not in t for t in drafts)  # shown while it grows
    transcript, sources, _, markdown, notice, turns, _ = views[-1]
    assert 'class="draft"' not in transcript and 'data-target="src-t0-1"' in transcript
    assert 'id="src-t0-1"' in sources and markdown.startswith("**Question:** Who did Shoigu meet?") and notice == ""

    list(handlers.ask("And then?", "fr", ["ar"], turns))
    follow_up = answerer.calls[1]
    assert follow_up["history"] == [("Who did Shoigu meet?", "Shoigu met Bagheri [1].")]
    assert follow_up["lang"] == "fr" and follow_up["filters"].languages == ["ar"]
    assert answerer.calls[0]["lang"] is None  # auto: the question's language


def test_empty_index_is_explained(tmp_path):
    (view,) = list(_Handlers(make_context(tmp_path)).ask("Wer?", "auto", [], []))
    assert EMPTY_INDEX in view[4] and view[6] == "Wer?"


def test_chroma_down_is_a_friendly_message(tmp_path):
    handlers = _Handlers(make_context(tmp_path, chroma={"host": "127.0.0.1", "port": free_port()}))
    notice = handlers.library()[3]
    assert "The article index (Chroma) is not available" in notice and "chroma run" in notice
    (view,) = list(handlers.ask("Wer?", "auto", [], []))
    assert "not available" in view[4] and "Traceback" not in view[4]


def test_chroma_back_after_going_down_answers_without_restarting_the_ui(tmp_path, chroma_server):
    """The UI holds one context for its lifetime, so a Chroma restart must not need a UI restart."""
    ctx = make_context(tmp_path, chroma={"host": chroma_server.host, "port": chroma_server.port}, llm={"backend": "none"})
    ingest([CORPUS / f"{GERMAN}.txt"], ctx.settings, ctx.store, ctx.embedder)
    handlers = _Handlers(ctx)

    chroma_server.stop()
    (view,) = list(handlers.ask("Wen traf Schoigu in Teheran?", "auto", [], []))
    for notice in (view[4], handlers.library()[3]):
        assert "The article index (Chroma) is not available" in notice
        assert f"127.0.0.1:{chroma_server.port} is unreachable" in notice and "Something went wrong" not in notice

    chroma_server.start()
    last = list(handlers.ask("Wen traf Schoigu in Teheran?", "auto", [], []))[-1]
    notice, turns = last[4], last[5]
    assert notice == "" and len(turns) == 1
    assert not turns[0][1].abstained and turns[0][1].citations[0].language == "de"


def test_llm_down_is_a_friendly_message(german_index):
    ctx = make_context(german_index, llm={"backend": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
                                          "api_key": "sk-test", "max_retries": 0, "timeout_s": 5})
    views = list(_Handlers(ctx).ask("Wen traf Schoigu in Teheran?", "auto", [], []))
    notice = views[-1][4]
    assert "The language model is not available" in notice and "Settings tab" in notice
    assert 'class="draft"' not in views[-1][0] and views[-1][6] == "Wen traf Schoigu in Teheran?"


def test_upload_indexes_and_delete_removes_the_uploaded_file(tmp_path):
    handlers = _Handlers(make_context(tmp_path / "data"))
    article = tmp_path / "Neuer Artikel.txt"
    article.write_text("Schoigu besuchte am Dienstag Teheran und traf dort Generalstabschef Bagheri.\n", encoding="utf-8")
    outcomes, documents, *_ = handlers.upload([str(article)], progress=lambda *a, **k: None)
    assert outcomes["data"][0][:2] == ["Neuer_Artikel.txt", "added"]
    (row,) = documents["data"]
    saved = tmp_path / "data" / "uploads" / "Neuer_Artikel.txt"
    assert saved.exists()
    documents, _, _, notice = handlers.delete([row[-1]])
    assert documents["data"] == [] and not saved.exists() and "Deleted 1 documents" in notice


def test_settings_view_never_shows_secrets(tmp_path):
    ctx = make_context(tmp_path, llm={"backend": "openai", "base_url": "http://user:hunter2@llm.example/v1", "api_key": "sk-SECRET"},
                       chroma={"host": "chroma.example", "auth_token": "tok-SECRET"})
    handlers = _Handlers(ctx)
    shown = json.dumps(handlers.redacted()) + repr(handlers.settings_rows())
    assert "SECRET" not in shown and "hunter2" not in shown
    assert "http://llm.example/v1" in shown and "server chroma.example:8000" in shown


def test_generation_has_its_own_queue_apart_from_library_and_status(tmp_path):
    app = build_app(make_context(tmp_path, llm={"backend": "none"}))
    groups = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in app.fns.values()}
    assert groups["ask"] == groups["summarise"] == ("generate", 1)
    assert groups["library"][0] == "read" and groups["library"][1] > 1
    assert groups["upload"] == groups["reindex"] == groups["delete"] == ("library-write", 1)
    assert groups["check"][0] == "status"


def test_login_is_required_when_credentials_are_set(tmp_path):
    app = build_app(make_context(tmp_path, llm={"backend": "none"}))
    url = launch(app, "127.0.0.1", free_port(), auth=("reader", "s3cret"))
    try:
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url + "config", timeout=30)
        assert denied.value.code == 401
    finally:
        app.close()


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.com", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_refuses_a_network_interface_without_login(monkeypatch, capsys):
    monkeypatch.delenv("RAG_UI_USER", raising=False)
    monkeypatch.delenv("RAG_UI_PASSWORD", raising=False)
    assert main(["--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0 without a login" in capsys.readouterr().err


def test_half_a_login_is_an_error(monkeypatch, capsys):
    monkeypatch.setenv("RAG_UI_USER", "reader")
    monkeypatch.delenv("RAG_UI_PASSWORD", raising=False)
    assert main(["--host", "127.0.0.1"]) == 2
    assert "Set both RAG_UI_USER and RAG_UI_PASSWORD" in capsys.readouterr().err


def test_python_m_ui_says_where_it_listens_and_that_login_is_on(tmp_path):
    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path), "RAG_LLM__BACKEND": "none", "RAG_UI_USER": "reader",
           "RAG_UI_PASSWORD": "s3cret", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"Polyglot News RAG UI listening on http://127.0.0.1:{port}/ (login on)"), line
    finally:
        proc.terminate()
        proc.wait(30)
