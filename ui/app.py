"""The Gradio web UI: chat with clickable sources, cited summaries, the article library and settings.

`build_app(ctx)` makes the Blocks; `launch(app, ...)` serves them with the UI's CSS and queue;
`main(argv)` is `python -m ui` (and `rag ui`). Answers and summaries share one generation queue (the
local LLM serves one request at a time); library and settings events have their own, so they stay
responsive while an answer is being written.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import date
from pathlib import Path

import gradio as gr

from rag.answer import Answerer
from rag.config import ConfigError, configure_logging, load_settings, public_url
from rag.context import RagContext
from rag.doctor import run_checks
from rag.embeddings import EmbedderError
from rag.ingest.pipeline import ingest
from rag.llm.client import LLMError
from rag.llm.local_model import ModelUnavailable
from rag.llm.local_server import LocalServerError
from rag.retrieve import Filters
from rag.store import StoreError
from rag.summarise import Summariser
from ui import render
from ui.uploads import ZIP_MAX_TOTAL_MB, remove_upload, save_uploads, uploads_dir

log = logging.getLogger(__name__)

GENERATION_CONCURRENCY = 1  # answers and summaries at once (the local llama.cpp server runs one at a time)
LANGUAGES = [("English", "en"), ("Français", "fr"), ("Deutsch", "de"), ("العربية", "ar"), ("Español", "es"),
             ("Русский", "ru"), ("فارسی", "fa"), ("Italiano", "it"), ("Português", "pt"), ("Türkçe", "tr"),
             ("Українська", "uk"), ("עברית", "he"), ("اردو", "ur"), ("中文", "zh")]
FLAG = "⚠ "  # marks documents that try to instruct AI assistants (rag/injection.py)
DOC_HEADERS = ["title", "language", "date", "chunks", "ingested", "id"]
OUTCOME_HEADERS = ["file", "status", "chunks", "language", "reason"]
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])  # no web fonts
EMPTY_INDEX = "The index is empty: add articles in the Library tab (or run `rag quickstart`)."


def friendly(exc: Exception) -> str:
    """What went wrong and what to do, for the user; unexpected errors go to the server log."""
    if isinstance(exc, (LLMError, LocalServerError, ModelUnavailable)):
        return (f"The language model is not available: {exc} Check it in the Settings tab (Check status), "
                "or start the UI with RAG_LLM__BACKEND=none for extractive answers without a model.")
    if isinstance(exc, StoreError):
        return f"The article index (Chroma) is not available: {exc}"
    if isinstance(exc, (EmbedderError, ConfigError, _UserMessage)):
        return str(exc)
    log.exception("unexpected error in the web UI")
    return f"Something went wrong ({type(exc).__name__}). The details are in the server log; please try again."


class _UserMessage(Exception):
    """A request the UI cannot serve as asked (empty index, bad date); the message says why."""


class SerialEmbedder:
    """The context's embedder, loaded once on first use even when several UI threads ask at once
    (rag/embeddings.py already lets one thread at a time into a local engine)."""

    def __init__(self, load: Callable[[], object]) -> None:
        self._load, self._inner, self._lock = load, None, threading.Lock()

    def _model(self):
        with self._lock:
            if self._inner is None:
                self._inner = self._load()
            return self._inner

    def __getattr__(self, name: str):
        return getattr(self._model(), name)


def _iso_date(text: str | None, label: str) -> str | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise _UserMessage(f"{label} must be a date like 2023-09-21.") from None


class _Handlers:
    """The event handlers, sharing one context, answerer and summariser."""

    def __init__(self, ctx: RagContext) -> None:
        self.settings = ctx.settings
        self.ctx = RagContext(ctx.settings, embedder=SerialEmbedder(lambda: ctx.embedder))
        self._lock = threading.Lock()
        self._answerer: Answerer | None = None
        self._summariser: Summariser | None = None
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="rag-ui")
        self._cancels: dict[str, threading.Event] = {}

    def _engine(self, attr: str, make):
        with self._lock:
            if getattr(self, attr) is None:
                setattr(self, attr, make(self.ctx))
            return getattr(self, attr)

    def _require_documents(self) -> None:
        if self.ctx.store.count() == 0:
            raise _UserMessage(EMPTY_INDEX)

    # -- chat ------------------------------------------------------------------------------------

    def ask(self, question: str, lang: str, source_langs: list[str], turns: list):
        """Stream the model's draft into the transcript, then show the verified answer and its sources."""
        question = (question or "").strip()
        if not question:
            yield _chat_view(turns, notice=render.notice_html("Type a question first.", "info"))
            return
        try:
            self._require_documents()
            answerer = self._engine("_answerer", Answerer)
        except Exception as exc:
            yield _chat_view(turns, notice=_warn(exc), question=question)
            return
        tokens: queue.SimpleQueue[str] = queue.SimpleQueue()
        future = self._pool.submit(
            answerer.answer, question, lang=None if lang == "auto" else lang,
            filters=Filters(languages=list(source_langs or []) or None),
            history=[(q, a.text) for q, a in turns], on_token=tokens.put if answerer.chat is not None else None,
        )
        draft = ""
        yield _chat_view(turns, pending=(question, draft), question="")
        while not future.done():
            wait([future], timeout=0.2)
            grown = _drain(tokens)
            if grown:
                draft += grown
                yield _chat_view(turns, pending=(question, draft))
        try:
            answer = future.result()
        except Exception as exc:
            yield _chat_view(turns, notice=_warn(exc), question=question)
            return
        yield _chat_view([*turns, (question, answer)])

    # -- summaries -------------------------------------------------------------------------------

    def summarise(self, topic, lang, doc_ids, source_langs, since, until, length, request: gr.Request,
                  progress=gr.Progress()):
        """A cited summary with its coverage; a Stop click ends it after the current document."""
        cancel = self._cancels.setdefault(request.session_hash, threading.Event())
        cancel.clear()
        try:
            self._require_documents()
            summariser = self._engine("_summariser", Summariser)
            summary = summariser.summarise(
                topic, lang=lang, doc_ids=doc_ids or None, source_languages=source_langs or None,
                since=_iso_date(since, "From"), until=_iso_date(until, "Until"), length=length, cancel=cancel,
                progress=lambda step, done, total: progress((done, total), desc=step),
            )
        except Exception as exc:
            return "", "", _warn(exc), ""
        notice = render.notice_html("Stopped: the summary covers the documents done so far.", "info") if summary.cancelled else ""
        return render.summary_html(summary), render.summary_sources_html(summary), notice, render.summary_markdown(summary)

    def stop(self, request: gr.Request) -> None:
        if event := self._cancels.get(request.session_hash):
            event.set()

    # -- library ---------------------------------------------------------------------------------

    def library(self):
        """The documents table and the document pickers' choices."""
        try:
            records = sorted(self.ctx.store.documents().values(), key=lambda r: (r.title.casefold(), r.doc_id))
        except Exception as exc:
            return gr.skip(), gr.skip(), gr.skip(), _warn(exc)
        rows = [[FLAG * bool(r.planted_instructions) + r.title, r.language, r.date or "", r.chunks, r.ingested_at, r.doc_id] for r in records]
        choices = [(f"{r.title} ({r.language}{', ' + r.date if r.date else ''})", r.doc_id) for r in records]
        status = f"{len(records)} documents, {sum(r.chunks for r in records)} passages." if records else EMPTY_INDEX
        flagged = sum(1 for r in records if r.planted_instructions)
        if flagged:
            status += (f" {FLAG}{flagged} contain text addressed to AI assistants: answers and summaries set them aside "
                       "unless you pick them by name.")
        return ({"headers": DOC_HEADERS, "data": rows}, gr.update(choices=choices, value=[]), gr.update(choices=choices),
                render.notice_html(status, "info"))

    def _ingest(self, paths: list[Path], progress, reindex: bool = False):
        def report(done: int, total: int, name: str) -> None:
            if total:
                progress((done, total), desc=f"Indexing {name}")

        return ingest(paths, self.settings, self.ctx.store, self.ctx.embedder, reindex=reindex, progress=report)

    def _outcome_rows(self, report) -> list[list]:
        root = uploads_dir(self.settings)
        rows = []
        for o in report.outcomes:
            path = Path(o.path)
            name = str(path.relative_to(root)) if path.is_relative_to(root) else o.path
            rows.append([name, o.status, o.chunks, o.language, "; ".join(x for x in (o.reason, o.warning) if x)])
        return rows

    def upload(self, files, progress=gr.Progress()):
        """Save the uploads safely, index them, and list what happened to each file."""
        if not files:
            return gr.skip(), *self.library()[:3], render.notice_html("Choose files or a zip first.", "info")
        try:
            saved = save_uploads(files, self.settings)
            rows = [[name, "rejected", 0, "", reason] for name, reason in saved.rejected]
            if saved.articles:
                rows = self._outcome_rows(self._ingest(saved.articles, progress)) + rows
        except Exception as exc:
            return gr.skip(), *self.library()[:3], _warn(exc)
        return {"headers": OUTCOME_HEADERS, "data": rows}, *self.library()

    def reindex(self, progress=gr.Progress()):
        """Rebuild every indexed document from its file."""
        try:
            paths = [Path(r.path) for r in self.ctx.store.documents().values()]
            rows = self._outcome_rows(self._ingest(paths, progress, reindex=True)) if paths else []
        except Exception as exc:
            return gr.skip(), *self.library()[:3], _warn(exc)
        return {"headers": OUTCOME_HEADERS, "data": rows}, *self.library()

    def delete(self, doc_ids: list[str]):
        """Remove documents from the index (and their files, when they were uploaded here)."""
        try:
            for doc_id in doc_ids or []:
                record = self.ctx.store.document(doc_id)
                self.ctx.store.delete_document(doc_id)
                if record:
                    remove_upload(record.path, self.settings)
        except Exception as exc:
            return *self.library()[:3], _warn(exc)
        return *self.library()[:3], render.notice_html(f"Deleted {len(doc_ids or [])} documents.", "info")

    # -- settings --------------------------------------------------------------------------------

    def settings_rows(self) -> list[tuple[str, str]]:
        s, llm = self.settings, self.settings.llm
        endpoint = {
            "local": "bundled llama.cpp server (in this process)",
            "openai": public_url(llm.base_url or "https://api.openai.com/v1"),
            "none": "no model: answers quote the sources (extractive)",
        }[llm.backend]
        model = {"local": llm.local_model, "openai": llm.model, "none": "—"}[llm.backend]
        cfg = s.chroma
        chroma = f"server {cfg.host}:{cfg.port}{' (TLS)' if cfg.ssl else ''}" if cfg.mode == "http" else f"embedded at {s.chroma_path}"
        return [("LLM backend", llm.backend), ("LLM model", model), ("LLM endpoint", endpoint),
                ("Embedder", s.embedder.name), ("Chroma", chroma), ("Collection", cfg.collection),
                ("Data directory", str(s.data_dir)), ("Largest article file", f"{s.ingest.max_file_mb:g} MB")]

    def redacted(self) -> dict:
        return self.settings.redacted()

    def check(self):
        rows = [[name, "ok" if ok else "FAIL", detail] for name, ok, detail in run_checks(self.ctx)]
        return {"headers": ["check", "status", "detail"], "data": rows}


def _drain(tokens: queue.SimpleQueue) -> str:
    parts = []
    while True:
        try:
            parts.append(tokens.get_nowait())
        except queue.Empty:
            return "".join(parts)


def _warn(exc: Exception) -> str:
    """Show a friendly toast and return the same message for the tab's message area."""
    message = friendly(exc)
    gr.Warning(message)
    return render.notice_html(message)


def _chat_view(turns: list, *, pending=None, notice: str = "", question=None) -> tuple:
    """Values for the chat outputs: transcript, sources, retrieved, markdown, notice, turns, question box."""
    skip = gr.skip()
    if pending is not None or notice:
        return (render.transcript_html(turns, pending), skip, skip, skip, notice, skip,
                skip if question is None else question)
    last_q, last = turns[-1] if turns else ("", None)
    return (render.transcript_html(turns), render.sources_html(turns), render.retrieved_html(last.retrieved if last else []),
            render.answer_markdown(last_q, last) if last else "", "", turns, skip if question is None else question)


def build_app(ctx: RagContext) -> gr.Blocks:
    """The UI for one context (settings, embedder, store); serve it with `launch`."""
    h = _Handlers(ctx)
    generate = {"concurrency_id": "generate", "concurrency_limit": GENERATION_CONCURRENCY}
    writes = {"concurrency_id": "library-write", "concurrency_limit": 1}
    reads = {"concurrency_id": "read", "concurrency_limit": 4}
    exts = ctx.settings.ingest.extensions

    with gr.Blocks(title="Polyglot News RAG", analytics_enabled=False) as app:
        gr.Markdown("## Polyglot News RAG\nCited answers and summaries from multilingual news, offline.")
        turns = gr.State([])

        with gr.Tab("Chat", id="chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    transcript = gr.HTML(render.transcript_html([]), elem_id="transcript", js_on_load=render.CITE_JS)
                    chat_notice = gr.HTML(elem_id="chat-notice", js_on_load=None)
                    with gr.Row():
                        question = gr.Textbox(label="Question", placeholder="Ask in any language…", scale=4, elem_id="question")
                        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    with gr.Row():
                        answer_lang = gr.Dropdown([("auto (the question's)", "auto"), *LANGUAGES], value="auto", label="Answer language")
                        source_langs = gr.Dropdown(LANGUAGES, multiselect=True, label="Only sources in")
                        new_chat = gr.Button("New conversation", scale=0)
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(render.sources_html([]), elem_id="sources", elem_classes="sources-panel", js_on_load=None)
            with gr.Accordion("All retrieved passages", open=False, elem_id="retrieved-accordion"):
                retrieved = gr.HTML(render.retrieved_html([]), elem_id="retrieved", js_on_load=None)
            with gr.Accordion("Copy the answer with its sources (Markdown)", open=False, elem_id="markdown-accordion"):
                markdown = gr.Textbox(label="Markdown", lines=10, buttons=["copy"], interactive=False, elem_id="answer-markdown",
                                      elem_classes="markdown-export")

        with gr.Tab("Summaries", id="summaries"):
            with gr.Row():
                topic = gr.Textbox(label="Topic (empty: summarise the chosen documents)", scale=3, elem_id="summary-topic")
                summary_lang = gr.Dropdown(LANGUAGES, value="en", label="Summary language")
                length = gr.Radio(["short", "medium", "long"], value="medium", label="Length")
            with gr.Row():
                summary_docs = gr.Dropdown([], multiselect=True, label="Only these documents")
                summary_src = gr.Dropdown(LANGUAGES, multiselect=True, label="Only sources in")
                since = gr.Textbox(label="From (YYYY-MM-DD)")
                until = gr.Textbox(label="Until (YYYY-MM-DD)")
            with gr.Row():
                summarise_btn = gr.Button("Summarise", variant="primary", elem_id="summarise")
                stop_btn = gr.Button("Stop", scale=0)
            summary_notice = gr.HTML(js_on_load=None)
            with gr.Row():
                summary = gr.HTML(elem_id="summary", js_on_load=render.CITE_JS)
                summary_sources = gr.HTML(elem_id="summary-sources", elem_classes="sources-panel", js_on_load=None)
            with gr.Accordion("Copy the summary with its sources (Markdown)", open=False):
                summary_md = gr.Textbox(label="Markdown", lines=10, buttons=["copy"], interactive=False, elem_classes="markdown-export")

        with gr.Tab("Library", id="library"):
            library_notice = gr.HTML(js_on_load=None, elem_id="library-notice")
            documents = gr.Dataframe(headers=DOC_HEADERS, interactive=False, wrap=True, elem_id="documents", elem_classes="doc-table",
                                     column_widths=["36%", "9%", "12%", "8%", "17%", "18%"])
            with gr.Row():
                refresh_btn = gr.Button("Refresh", scale=0)
                reindex_btn = gr.Button("Re-index all", scale=0)
            files = gr.File(file_count="multiple", file_types=[*exts, ".zip", ".yaml"], elem_id="upload",
                            label=f"Add articles ({', '.join(exts)}, or a .zip of them; same name replaces)")
            add_btn = gr.Button("Add to library", variant="primary", elem_id="add-files")
            outcomes = gr.Dataframe(headers=OUTCOME_HEADERS, interactive=False, wrap=True, elem_id="outcomes", elem_classes="doc-table")
            with gr.Row():
                delete_pick = gr.Dropdown([], multiselect=True, label="Documents to delete", scale=3)
                delete_btn = gr.Button("Delete", variant="stop", scale=0)

        with gr.Tab("Settings", id="settings"):
            gr.HTML(render.settings_html(h.settings_rows()), js_on_load=None)
            gr.Markdown("Settings come from `RAG_*` environment variables or `rag.toml`; restart the UI after changing them.")
            check_btn = gr.Button("Check status", elem_id="check-status")
            checks = gr.Dataframe(headers=["check", "status", "detail"], interactive=False, wrap=True, elem_id="checks", elem_classes="doc-table")
            with gr.Accordion("All settings (secrets hidden)", open=False):
                gr.JSON(h.redacted())

        chat_out = [transcript, sources, retrieved, markdown, chat_notice, turns, question]
        gr.on([ask.click, question.submit], h.ask, [question, answer_lang, source_langs, turns], chat_out,
              show_progress_on=transcript, **generate)
        new_chat.click(lambda: _chat_view([]), None, chat_out, queue=False)
        summarise_btn.click(h.summarise, [topic, summary_lang, summary_docs, summary_src, since, until, length],
                            [summary, summary_sources, summary_notice, summary_md], **generate)
        stop_btn.click(h.stop, None, None, queue=False)

        library_out = [documents, delete_pick, summary_docs, library_notice]
        gr.on([app.load, refresh_btn.click], h.library, None, library_out, **reads)
        add_btn.click(h.upload, files, [outcomes, *library_out], **writes).then(lambda: None, None, files, queue=False)
        reindex_btn.click(h.reindex, None, [outcomes, *library_out], **writes)
        delete_btn.click(h.delete, delete_pick, library_out, **writes)
        check_btn.click(h.check, None, checks, concurrency_id="status", concurrency_limit=1)

    app.queue(default_concurrency_limit=2, max_size=100)
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None) -> str:
    """Start serving in the background; returns the local URL (`app.block_thread()` waits on it)."""
    app.launch(
        server_name=host, server_port=port, auth=[auth] if auth else None, prevent_thread_lock=True, quiet=True,
        share=False, show_error=False, theme=THEME, css=render.CSS, max_file_size=f"{ZIP_MAX_TOTAL_MB}mb",
        enable_monitoring=False, pwa=False, mcp_server=False, ssr_mode=False,
    )
    return app.local_url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials() -> tuple[str, str] | None:
    """(user, password) from RAG_UI_USER / RAG_UI_PASSWORD, None when neither is set."""
    user, password = os.environ.get("RAG_UI_USER", ""), os.environ.get("RAG_UI_PASSWORD", "")
    if bool(user) != bool(password):
        raise ConfigError("Set both RAG_UI_USER and RAG_UI_PASSWORD to turn on the login, or neither.")
    return (user, password) if user else None


def main(argv: list[str] | None = None) -> int:
    """`python -m ui [--host H] [--port P]`: serve the UI until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m ui", description="Serve the Polyglot News RAG web UI.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        auth = credentials()
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if auth is None and not is_loopback(args.host):
        print(f"Error: refusing to listen on {args.host} without a login: anyone on the network could use it. "
              "Set RAG_UI_USER and RAG_UI_PASSWORD, or use --host 127.0.0.1.", file=sys.stderr)
        return 2
    app = build_app(RagContext(settings))
    try:
        url = launch(app, args.host, args.port, auth)
    except OSError as exc:
        print(f"Error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"Polyglot News RAG UI listening on {url} (login {'on' if auth else 'off'}); Ctrl+C to stop.", flush=True)
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass
    return 0
