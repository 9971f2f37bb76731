"""The bundled model behind llama.cpp's OpenAI-compatible HTTP server (xllamacpp), on 127.0.0.1.

The server runs in a child process rather than in ours: xllamacpp's `Server()` holds the GIL for
the whole model load (~3 s for the 1.5B model, every Python thread, the UI included, stalls), it
writes llama.cpp's log to stderr, and a native crash would take the app with it. The child binds
a free port itself (no race), reports its address, and exits when our end of its stdin closes,
so it also goes away if this process is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from rag.llm.local_model import ensure_model

if TYPE_CHECKING:  # the child process imports this module: keep it free of pydantic and openai
    from rag.config import Settings

START_TIMEOUT_S = 180.0
_READY = "RAG_LOCAL_SERVER_READY "
_CHILD = "import sys; from rag.llm.local_server import _serve; _serve(*sys.argv[1:])"


class LocalServerError(RuntimeError):
    """The local model server could not be started; the message carries the end of its log."""


class LocalServer:
    """One llama.cpp server child process serving one GGUF; `base_url` is for the openai client."""

    def __init__(self, model_path: Path, model: str, threads: int, context: int, start_timeout: float = START_TIMEOUT_S):
        self.model = model
        self.config = (str(model_path), model, threads, context)
        self._log: deque[str] = deque(maxlen=40)
        self._ready = threading.Event()
        self._address = ""
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *map(str, self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # Ctrl-C reaches us, not the server; we close it ourselves.
        )
        threading.Thread(target=self._drain, name="llm-server-log", daemon=True).start()
        atexit.register(self.close)
        try:
            self._wait_until_up(start_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def base_url(self) -> str:
        return self._address + "/v1"

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def _drain(self) -> None:
        """Keep the child's stderr pipe empty, remembering the last lines for error messages."""
        for line in self._proc.stderr:
            if line.startswith(_READY):
                self._address = line[len(_READY):].strip()
                self._ready.set()
            else:
                self._log.append(line.rstrip())
        self._ready.set()  # the child exited: wake the waiter

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        while self._address and self.running and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self._address + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=0 if self._address else 2)
        what = "exited" if not self.running else f"did not answer within {timeout:.0f} s"
        tail = "\n".join(list(self._log)[-12:])
        raise LocalServerError(f"The local model server ({self.model}) {what}. Its last log lines:\n{tail}")

    def close(self) -> None:
        """Stop the child and wait for it, so its memory and port are free when this returns."""
        atexit.unregister(self.close)
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


_lock = threading.Lock()
_server: LocalServer | None = None


def get_local_server(settings: Settings) -> LocalServer:
    """The process-wide server for `settings.llm`, started (and the model assembled) on first use."""
    global _server
    llm = settings.llm
    with _lock:
        path = ensure_model(llm.local_model, settings.models_dir)
        wanted = (str(path), llm.local_model, llm.local_threads, llm.local_context)
        if _server is not None and (_server.config != wanted or not _server.running):
            _server.close()
            _server = None
        if _server is None:
            _server = LocalServer(path, llm.local_model, llm.local_threads, llm.local_context)
        return _server


def close_local_server() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.close()
            _server = None


def _serve(model_path: str, alias: str, threads: str, context: str) -> None:
    """Child side: load the model, announce the address, serve until stdin closes."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = model_path
    params.model_alias = {alias}
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port
    params.n_ctx = int(context)
    params.n_parallel = 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = int(threads)
    params.cache_ram_mib = 0  # the slot's own KV cache already reuses the shared instructions prefix
    params.cache_idle_slots = False  # needs cache_ram; set off to keep the log free of the warning
    params.ui = False
    server = xlc.Server(params)
    # One write() is atomic on a pipe, and the leading newline puts the marker at the start of a line
    # even if llama.cpp's log thread is in the middle of writing one.
    os.write(sys.stderr.fileno(), f"\n{_READY}{server.listening_address}\n".encode())
    sys.stdin.read()
    del server
