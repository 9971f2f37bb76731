"""Fixtures with real components: the real embedders (loaded once), embedded Chroma in a temp dir, and a
real `chroma run` server on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.context import RagContext
from rag.embeddings import make_embedder

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
FRENCH, ARABIC, GERMAN = "000_e3005b3932ea3b15", "001_d663601aca17d24f", "002_c07cee82c88fe1e3"

_EMBEDDERS: dict[str, object] = {}


def shared_embedder(name: str):
    """Load each real embedder once per test session."""
    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = make_embedder(Settings(embedder={"name": name}))
    return _EMBEDDERS[name]


def make_context(data_dir: Path, embedder: str = "e5-small", **overrides) -> RagContext:
    settings = Settings(data_dir=data_dir, embedder={"name": embedder}, **overrides)
    return RagContext(settings, embedder=shared_embedder(embedder))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed corpus (articles and sidecars)."""
    target = tmp_path / "articles"
    shutil.copytree(CORPUS, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """`chroma run` in a subprocess, as a user would start it."""

    def __init__(self, path: Path) -> None:
        self.path, self.host, self.port = path, "127.0.0.1", free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ChromaServer":
        chroma = Path(sys.executable).with_name("chroma")
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(self.path), "--host", self.host, "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("chroma run exited at start")
                time.sleep(0.1)
        raise RuntimeError("chroma run did not start listening in 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def chroma_server(tmp_path: Path):
    server = ChromaServer(tmp_path / "chroma-server").start()
    yield server
    server.stop()
