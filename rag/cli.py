"""`rag`: the command line, a thin shell over the library (the web UI calls the same functions)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.config import ConfigError, configure_logging, load_settings
from rag.context import RagContext
from rag.embeddings import EmbedderError
from rag.llm.client import LLMError
from rag.llm.local_model import ModelUnavailable
from rag.llm.local_server import LocalServerError
from rag.store import StoreError

app = typer.Typer(
    help="Cited question answering and summaries over multilingual news articles, offline.\n\n"
    "Start with `rag quickstart`, then `rag ingest FOLDER` for your own articles and `rag search \"...\"`. "
    "Settings come from RAG_* environment variables or rag.toml (see `rag config`).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

USER_ERRORS = (ConfigError, StoreError, EmbedderError, LLMError, ModelUnavailable, LocalServerError)
DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@contextmanager
def user_errors() -> Iterator[None]:
    """Show expected failures (bad settings, Chroma down, ...) as one readable line, not a traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


@app.callback()
def _logging() -> None:
    # Before any command, so every library's log records pass the secret filter (RAG_LOG_LEVEL); invalid
    # settings are left for the command itself to report.
    with suppress(ConfigError):
        configure_logging(load_settings())


def _context() -> RagContext:
    return RagContext()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of .txt, .md, .html, .pdf articles.")],
    prune: Annotated[bool, typer.Option(help="Remove documents whose files vanished from these folders.")] = False,
    reindex: Annotated[bool, typer.Option(help="Rebuild every document even if unchanged (or rebuild the collection for a new embedder).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every file, not only failures.")] = False,
) -> None:
    """Clean, chunk, embed and index articles. Safe to rerun: unchanged files are skipped, and an
    interrupted run leaves the index consistent (run it again to finish)."""
    from rag.ingest.pipeline import ingest as run_ingest

    with user_errors():
        ctx = _context()
        store = _store_for_ingest(ctx, reindex)
        report = _with_progress("Ingesting", lambda progress: run_ingest(
            paths, ctx.settings, store, ctx.embedder, prune=prune, reindex=reindex, progress=progress))
    _print_report(report, verbose)
    if report.interrupted:
        err_console.print("[yellow]Interrupted.[/] Documents committed so far are kept; run the same command again to finish.")
        raise typer.Exit(130)


def _store_for_ingest(ctx: RagContext, reindex: bool):
    """With --reindex, a collection built by another embedder is dropped and rebuilt."""
    from rag.store import drop_collections

    try:
        return ctx.store
    except StoreError:
        if not reindex:
            raise
    drop_collections(ctx.settings)
    return ctx.store


def _with_progress(label: str, work):
    with Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name[:40])

        return work(progress)


def _print_report(report, verbose: bool) -> None:
    counts = {s: report.count(s) for s in ("added", "updated", "unchanged", "removed", "skipped", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    console.print(f"[bold]Ingest:[/] {summary or 'nothing to do'}; {report.chunks_written} chunks written.")
    if report.removed_uncommitted:
        console.print(f"Cleaned up {report.removed_uncommitted} chunks left by an interrupted run.")
    for o in report.outcomes:
        if o.status in ("failed", "skipped") or verbose:
            style = {"failed": "red", "skipped": "yellow"}.get(o.status, "green")
            detail = o.reason or (f"{o.chunks} chunks, {o.language}" if o.chunks else "")
            line = escape(str(o.path)) + (f" — {escape(detail)}" if detail else "")  # file names are not markup
            console.print(f"  [{style}]{o.status:9}[/] {line}", highlight=False)
        if o.warning:
            console.print(f"  [yellow]warning[/]   {escape(str(o.path))} — {escape(o.warning)}", highlight=False)


@app.command()
def sources(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List indexed documents with language, date, chunk count and when they were ingested."""
    with user_errors():
        records = sorted(_context().store.documents().values(), key=lambda r: r.path)
    if as_json:
        print(json.dumps([r.__dict__ for r in records], ensure_ascii=False, indent=2))
        return
    if not records:
        console.print("The index is empty: run `rag ingest FOLDER` (or `rag quickstart`).")
        return
    table = Table("id", "lang", "date", "chunks", "ingested", "title")
    for r in records:
        table.add_row(r.doc_id, r.language, r.date or "", str(r.chunks), r.ingested_at, escape("⚠ " * bool(r.planted_instructions) + r.title[:60]))
    console.print(table)
    if any(r.planted_instructions for r in records):
        console.print("[yellow]⚠ contains text addressed to AI assistants (possible manipulation): answers and summaries "
                      "set it aside unless it is selected by id (`rag summarize --docs`, the UI's document filter) or "
                      "RAG_ANSWER__USE_FLAGGED_SOURCES=true.[/]")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many passages.")] = 5,
    lang: Annotated[Optional[list[str]], typer.Option("--lang", help="Only passages in this language (repeatable), e.g. ar.")] = None,
    doc: Annotated[Optional[list[str]], typer.Option("--doc", help="Only this document id (repeatable).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only documents dated on or after YYYY-MM-DD.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only documents dated on or before YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Retrieval only: the passages closest to QUERY, with scores, in their original language."""
    from rag.retrieve import Filters, search as run_search

    with user_errors():
        ctx = _context()
        hits = run_search(ctx.store, ctx.embedder, query, k, Filters(lang, doc, since, until))
    if as_json:
        print(json.dumps([h.__dict__ for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("No passages found. Is anything ingested? (`rag sources`)")
    for rank, hit in enumerate(hits, 1):
        console.print(f"[bold]{rank}.[/] {hit.score:.3f} [cyan]{escape(hit.title)}[/] ({hit.language}, {hit.doc_id})", highlight=False)
        snippet = " ".join(hit.text.split())
        console.print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}", highlight=False, markup=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in any language.")],
    lang: Annotated[Optional[str], typer.Option("--lang", help="Answer language (ISO code, e.g. en, fr, ar); default: the question's.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--k", min=1, max=50, help="Chunks to retrieve (default from settings).")] = None,
    llm: Annotated[Optional[str], typer.Option("--llm", help="local (bundled model), openai (OPENAI_BASE_URL) or none (extractive, no LLM).")] = None,
    source_lang: Annotated[Optional[list[str]], typer.Option("--source-lang", help="Only use sources in this language (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Everything as JSON: answer, sentences, citations, scores, timings.")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Do not print the model's draft while it is generated.")] = False,
) -> None:
    """Answer QUESTION from the indexed articles, every sentence citing [n] the exact source sentence.
    When the sources do not say, the answer says so instead of guessing."""
    from rag.answer import Answerer
    from rag.retrieve import Filters

    if llm not in (None, "local", "openai", "none"):
        err_console.print("[bold red]Error:[/] --llm must be local, openai or none.")
        raise typer.Exit(2)
    with user_errors():
        answerer = Answerer(_context(), llm=llm)
        stream = not (no_stream or as_json) and answerer.chat is not None
        if stream:
            err_console.print("[dim]Draft (checked against the sources below):[/]")
        on_token = (lambda t: err_console.print(t, end="", style="dim", highlight=False, markup=False)) if stream else None
        result = answerer.answer(question, lang=lang, k=k, filters=Filters(languages=source_lang), on_token=on_token)
    if stream:
        err_console.print()
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    print_answer(result)


def print_answer(result) -> None:
    """The verified answer, then each cited source sentence in its original language."""
    console.print()
    console.print(result.text, highlight=False, markup=False)
    if result.abstained and result.abstain_reason:
        console.print(f"[dim]Why: {escape(result.abstain_reason)}.[/]", highlight=False)
    dropped = [c for c in result.claims if not c.supported]
    for claim in dropped:
        console.print(f"[yellow]unsupported:[/] {escape(claim.text)} ({escape(claim.note or '')})", highlight=False)
    print_sources(result.citations)
    print_set_aside(result.set_aside)
    console.print(f"[dim]{result.mode} · {result.timings_ms.get('total', 0) / 1000:.1f} s[/]")


def print_set_aside(documents) -> None:
    from rag.retrieve import set_aside_note

    if documents:
        console.print(f"\n[yellow]{escape(set_aside_note(documents))}[/]", highlight=False)


def print_sources(citations) -> None:
    """Each cited sentence in its original language, with title, outlet, date and language."""
    if citations:
        console.print("\n[bold]Sources[/]")
    for ev in citations:
        where = ", ".join(x for x in (ev.source, ev.date, ev.language) if x)
        console.print(f"[bold]\\[{ev.n}][/] [cyan]{escape(ev.title)}[/] ({escape(where)})", highlight=False)
        console.print(f"    “{' '.join(ev.text.split())}”", highlight=False, markup=False)


@app.command()
def summarize(
    topic: Annotated[Optional[str], typer.Option("--topic", help="What to summarise; omit for the selected documents as a whole.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the summary (ISO code).")] = "en",
    docs: Annotated[Optional[list[str]], typer.Option("--docs", help="Only this document id (repeatable; see `rag sources`).")] = None,
    source_lang: Annotated[Optional[str], typer.Option("--source-lang", help="Only sources in these languages, comma-separated, e.g. ar,de.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only documents dated on or after YYYY-MM-DD.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only documents dated on or before YYYY-MM-DD.")] = None,
    length: Annotated[str, typer.Option(help="short, medium or long.")] = "medium",
    llm: Annotated[Optional[str], typer.Option("--llm", help="local (bundled model), openai or none (extractive).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Everything as JSON: points, citations, coverage, agreements, differences.")] = False,
) -> None:
    """Summarise what the sources say, across languages, every sentence citing [n] its source sentence,
    with where sources agree or differ and which documents and languages were drawn on. Ctrl-C stops it
    cleanly with what is done so far."""
    import threading

    from rag.summarise import Summariser

    if length not in ("short", "medium", "long") or llm not in (None, "local", "openai", "none"):
        err_console.print("[bold red]Error:[/] --length must be short, medium or long; --llm local, openai or none.")
        raise typer.Exit(2)
    languages = [code.strip() for code in (source_lang or "").split(",") if code.strip()] or None
    cancel = threading.Event()
    with user_errors():
        summariser = Summariser(_context(), llm=llm)

        def run(progress):
            try:
                return summariser.summarise(topic, lang=lang, doc_ids=docs, source_languages=languages, since=since,
                                            until=until, length=length, progress=lambda step, done, total: progress(done, total, step),
                                            cancel=cancel)
            except KeyboardInterrupt:  # the summariser checks `cancel` between steps
                cancel.set()
                raise

        result = _with_progress("Summarising", run)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    console.print(result.text, highlight=False, markup=False)
    for label, statements in (("Sources agree", result.agreements), ("Sources differ", result.differences)):
        for statement in statements:
            console.print(f"[bold]{label}:[/] {escape(statement.text)}", highlight=False)
    cov = result.coverage
    console.print(f"[dim]Drew on {len(cov.cited)} of {len(cov.available)} documents "
                  f"({', '.join(sorted({cov.available[d] for d in cov.cited})) or 'none'}); "
                  f"{len(result.dropped)} sentences rejected by verification{'; cancelled' if result.cancelled else ''}.[/]")
    print_sources(result.citations)
    print_set_aside(cov.set_aside)


EVAL_TARGETS = {"grounding": "evals.grounding", "retrieval": "evals.retrieval"}


@app.command(
    name="eval",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def run_eval(ctx: typer.Context) -> None:
    """Run the evals: `rag eval [--suite ci|full] [--llm none,local,openai] [--judge offline|llm] [--baseline FILE]`
    for grounding (citations, correctness, abstention), or `rag eval retrieval [...]` for the XQuAD
    cross-lingual retrieval benchmark. `rag eval --help` / `rag eval retrieval --help` list the options."""
    import importlib

    args = list(ctx.args)
    target = args.pop(0) if args and args[0] in EVAL_TARGETS else "grounding"
    with user_errors():
        code = importlib.import_module(EVAL_TARGETS[target]).main(args)
    raise typer.Exit(code or 0)


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Interface to bind; anything but loopback needs RAG_UI_USER and RAG_UI_PASSWORD.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web UI.")] = 7860,
) -> None:
    """Start the web UI (chat with clickable sources, summaries, your library) on http://HOST:PORT/."""
    from ui.app import main as run_ui

    with user_errors():
        code = run_ui(["--host", host, "--port", str(port)])
    raise typer.Exit(code or 0)


@app.command()
def config() -> None:
    """Print the effective settings (secrets redacted) and where they can be set."""
    with user_errors():
        ctx = _context()
    print(json.dumps(ctx.settings.redacted(), indent=2, ensure_ascii=False))
    err_console.print("Set any field with RAG_<SECTION>__<FIELD> (e.g. RAG_CHROMA__HOST) or in rag.toml / $RAG_CONFIG.")


@app.command()
def doctor() -> None:
    """Check the data directory, the embedder, Chroma and the bundled model packages."""
    from rag.doctor import run_checks

    with user_errors():
        ctx = _context()
    failed = False
    for name, ok, detail in run_checks(ctx):
        failed |= not ok
        console.print(f"{'[green]ok  [/]' if ok else '[red]FAIL[/]'} {name}: {escape(detail)}", highlight=False)
    raise typer.Exit(1 if failed else 0)


@app.command()
def quickstart(
    corpus: Annotated[Path, typer.Option(help="Folder to ingest.")] = DEFAULT_CORPUS,
    question: Annotated[str, typer.Option(help="Sample question to answer.")] = "Who did the Russian defence minister meet in Tehran?",
    llm: Annotated[Optional[str], typer.Option("--llm", help="local (default), openai or none.")] = None,
) -> None:
    """The main job on the embedded defaults: index the bundled articles (once), then answer a sample
    question with citations using the bundled local LLM (the first run assembles the model, ~1 GB)."""
    console.print(f"Indexing {escape(str(corpus))} (unchanged files are skipped)…")
    ingest([corpus], prune=False, reindex=False, verbose=False)
    console.print(f"\n[bold]Question:[/] {escape(question)}")
    ask(question, lang=None, k=None, llm=llm, source_lang=None, as_json=False, no_stream=False)


def main() -> None:  # pragma: no cover - console entry point wrapper
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
