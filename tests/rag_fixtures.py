"""Fixtures with real components: the real embedders (loaded once), embedded Chroma in a temp dir, and a
real `chroma run` server on a free loopback port."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.common import ChromaServer, free_port  # noqa: F401 - free_port is re-exported for the tests
from rag.config import EmbedderSettings, Settings
from rag.context import RagContext
from rag.embeddings import make_embedder

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
FRENCH, ARABIC, GERMAN = "000_e3005b3932ea3b15", "001_d663601aca17d24f", "002_c07cee82c88fe1e3"

_EMBEDDERS: dict[str, object] = {}
DEFAULT_EMBEDDER = EmbedderSettings().name


def shared_embedder(name: str):
    """Load each real embedder once per test session."""
    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = make_embedder(Settings(embedder={"name": name}))
    return _EMBEDDERS[name]


def make_context(data_dir: Path, embedder: str = DEFAULT_EMBEDDER, **overrides) -> RagContext:
    settings = Settings(data_dir=data_dir, embedder={"name": embedder}, **overrides)
    return RagContext(settings, embedder=shared_embedder(embedder))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed corpus (articles and sidecars)."""
    target = tmp_path / "articles"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def chroma_server(tmp_path: Path):
    server = ChromaServer(tmp_path / "chroma-server").start()
    yield server
    server.stop()
