"""A real HTTP server on 127.0.0.1 speaking the OpenAI protocol, scripted by the test.

It stands in for cloud endpoints: the code under test talks to it through the real `openai` client
over real sockets, so request building, retries, timeouts, streaming and error parsing are all
exercised. Replies come from a queue (`reply(...)`, shared by chat and embeddings requests; an
embeddings request uses only its fault), then from `responder`, then a default text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ERROR_TYPES = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error"}


@dataclass
class Reply:
    """One scripted answer: text, or a fault (HTTP status, delay, garbage body, empty answer)."""

    text: str = "ok"
    status: int | None = None
    error: str = ""  # the error message sent with `status`
    delay: float = 0.0
    garbage: str | None = None  # a Content-Type: 200 with that type and a body that is not JSON
    empty: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any = None


@dataclass
class FakeOpenAI:
    """`with FakeOpenAI() as fake:` then point a client at `fake.base_url`."""

    models: tuple[str, ...] = ("fake-model",)
    api_key: str | None = None  # when set, other bearer tokens get a 401
    dim: int = 8
    responder: Callable[[dict], Reply | str] | None = None
    requests: list[Recorded] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)

    def reply(self, text: str = "ok", **fault: Any) -> None:
        """Queue the next answer, e.g. `reply("hi")`, `reply(status=500)`, `reply(delay=5)`, `reply(empty=True)`,
        `reply(garbage="text/html")`."""
        self._queue.append(Reply(text, **fault))

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a handler sleeping in a delay fault must not hold up exit
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _next(self, body: dict) -> Reply:
        if self._queue:
            return self._queue.popleft()
        if self.responder:
            out = self.responder(body)
            return out if isinstance(out, Reply) else Reply(out)
        return Reply()


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up mid-stream (a test cancelling, a timeout) is normal here, not an error to print."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def embed(text: str, dim: int) -> list[float]:
    """Deterministic unit vector derived from a hash of the text."""
    raw = b"".join(hashlib.sha256(f"{i}:{text}".encode()).digest() for i in range(dim // 8 + 1))
    vec = [b / 127.5 - 1.0 for b in raw[:dim]]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _record(self, body: Any = None) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server_fake.requests.append(Recorded(self.command, self.path, headers, body))

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        error = {"message": message, "type": _ERROR_TYPES.get(status, "server_error"), "param": None, "code": code}
        # retry-after-ms keeps the client's retries (on 429/5xx) fast in tests; it is part of the protocol.
        self._json(status, {"error": error}, {"retry-after-ms": "10"})

    def _authorised(self) -> bool:
        key = self.server_fake.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        # Like OpenAI, echo a masked form of the key: callers must not pass it on.
        self._error(401, f"Incorrect API key provided: {sent[:3]}***{sent[-4:]}.", "invalid_api_key")
        return False

    def do_GET(self) -> None:
        self._record()
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"Unknown path {self.path}")
        models = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.server_fake.models]
        self._json(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self._record(body)
        if not self._authorised():
            return
        routes = {"/v1/chat/completions": self._chat, "/v1/embeddings": self._embeddings}
        route = routes.get(self.path.rstrip("/"))
        if route is None:
            return self._error(404, f"Unknown path {self.path}")
        route(body)

    def _chat(self, body: dict) -> None:
        model = body.get("model")
        if model not in self.server_fake.models:
            return self._error(404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found")
        reply = self.server_fake._next(body)
        if self._faulted(reply):
            return
        text = "" if reply.empty else reply.text
        if body.get("stream"):
            return self._stream(model, text)
        self._json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": len(text.split()), "total_tokens": 1 + len(text.split())},
        })

    def _faulted(self, reply: Reply) -> bool:
        """Play the reply's fault, if any; True when the response has been sent."""
        time.sleep(reply.delay)
        if reply.status:
            self._error(reply.status, reply.error or f"Scripted failure {reply.status}")
        elif reply.garbage:
            data = b"<html>502 Bad Gateway</html>"
            self.send_response(200)
            self.send_header("Content-Type", reply.garbage)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        return bool(reply.status or reply.garbage)

    def _stream(self, model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        pieces = [{"role": "assistant", "content": ""}] + [{"content": p} for p in _pieces(text)]
        for i, delta in enumerate(pieces + [{}]):
            chunk = {
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None if i < len(pieces) else "stop"}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _embeddings(self, body: dict) -> None:
        if self._faulted(self.server_fake._next(body)):
            return
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        dim = int(body.get("dimensions") or self.server_fake.dim)
        as_b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vec = embed(str(text), dim)
            value = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode() if as_b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": value})
        self._json(200, {"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": 0, "total_tokens": 0}})


def _pieces(text: str) -> list[str]:
    """Split text into word-sized deltas whose concatenation is the text."""
    out: list[str] = []
    for word in text.split(" "):
        out.append(word if not out else " " + word)
    return [p for p in out if p]
