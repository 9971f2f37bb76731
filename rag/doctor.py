"""`rag doctor`: each check returns (name, ok, detail) so the CLI and the UI settings view can show them."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator

from rag.context import RagContext

Check = tuple[str, bool, str]


def _data_dir(ctx: RagContext) -> str:
    path = ctx.settings.data_dir
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path):
        pass
    return f"{path} is writable"


def _embedder(ctx: RagContext) -> str:
    started = time.perf_counter()
    vector = ctx.embedder.embed_queries(["Bonjour, مرحبا, Guten Tag"])[0]
    return f"{ctx.embedder.name}, {len(vector)} dims, query embedded in {1000 * (time.perf_counter() - started):.0f} ms"


def _chroma(ctx: RagContext) -> str:
    store = ctx.store
    where = f"server {ctx.settings.chroma.host}:{ctx.settings.chroma.port}" if ctx.settings.chroma.mode == "http" else f"embedded at {ctx.settings.chroma_path}"
    documents = store.documents()
    flagged = sum(1 for record in documents.values() if record.planted_instructions)
    note = f" ({flagged} flagged as addressing AI assistants, set aside: see `rag sources`)" if flagged else ""
    return f"{where}, collection '{store.name}': {len(documents)} documents{note}, {store.count()} chunks"


def _llm(ctx: RagContext) -> str:
    from rag.llm.client import check

    status = check(ctx.settings)
    if status.startswith("error"):
        raise RuntimeError(status.removeprefix("error: "))
    return status.removeprefix("ok: ")


CHECKS: list[tuple[str, Callable[[RagContext], str]]] = [
    ("data directory", _data_dir),
    ("embedder", _embedder),
    ("chroma", _chroma),
    ("llm", _llm),
]


def run_checks(ctx: RagContext) -> Iterator[Check]:
    """Run every check, reporting failures as text instead of raising."""
    for name, check in CHECKS:
        try:
            yield name, True, check(ctx)
        except Exception as exc:  # a doctor reports, it does not crash
            yield name, False, str(exc) or type(exc).__name__
