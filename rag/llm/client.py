"""The one way the product talks to a chat model: the `openai` client, pointed at the chosen backend.

Every backend (the bundled llama.cpp server, OpenAI, vLLM, Ollama, ...) speaks the same protocol,
so one `ChatEndpoint` serves them all; only how it is built differs. Failures surface as a single
`LLMError` whose message tells the user what to fix and never contains the API key.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from rag.config import Settings, public_url
from rag.llm.local_model import ModelUnavailable
from rag.llm.local_server import LocalServerError, get_local_server

Messages = list[dict[str, Any]]
_NOT_JSON = "The LLM at {url} sent a reply that is not OpenAI chat JSON: is the base URL an OpenAI-compatible endpoint?"


class LLMError(RuntimeError):
    """The chat model could not answer; the message is meant for the user."""


@dataclass
class ChatEndpoint:
    """An openai client plus the model and default sampling parameters used with it."""

    client: openai.OpenAI
    model: str
    max_tokens: int
    temperature: float
    seed: int | None
    extra_body: dict[str, Any] | None = None
    secret: str = field(default="", repr=False)  # scrubbed from every error message

    @property
    def url(self) -> str:
        return public_url(str(self.client.base_url))

    def _params(self, messages: Messages, overrides: dict[str, Any]) -> dict[str, Any]:
        params = {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed, **overrides}
        params = {k: v for k, v in params.items() if v is not None}
        if self.extra_body:
            params["extra_body"] = {**self.extra_body, **params.get("extra_body", {})}
        return {"model": self.model, "messages": messages, **params}

    def complete(self, messages: Messages, **overrides: Any) -> str:
        """The whole answer; `overrides` are any chat.completions parameters (max_tokens, stop, ...)."""
        with self._errors():
            response = self.client.chat.completions.create(**self._params(messages, overrides))
            if not isinstance(response, openai.types.chat.ChatCompletion):
                raise LLMError(_NOT_JSON.format(url=self.url))
            text = response.choices[0].message.content if response.choices else None
        if not text or not text.strip():
            raise LLMError(f"The model {self.model} returned an empty answer.")
        return text

    def stream(self, messages: Messages, **overrides: Any) -> Iterator[str]:
        """Text deltas as the model produces them; stopping iteration early closes the request."""
        got_text = False
        with self._errors(), self.client.chat.completions.create(**self._params(messages, overrides), stream=True) as chunks:
            for chunk in chunks:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    got_text = True
                    yield delta
        if not got_text:
            raise LLMError(f"The model {self.model} returned an empty answer.")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (openai.OpenAIError, json.JSONDecodeError) as exc:  # the client lets a non-JSON body through raw
            message = _describe(exc, self)
            if self.secret:
                message = message.replace(self.secret, "***")
            raise LLMError(message) from None


def _describe(exc: Exception, ep: ChatEndpoint) -> str:
    """User-facing text for an openai exception (most specific class first)."""
    url, retries = ep.url, ep.client.max_retries
    after = f" (after {retries} retries)" if retries else ""
    if isinstance(exc, openai.APITimeoutError):
        return (f"The LLM at {url} did not answer within {ep.client.timeout} s{after}: it may be overloaded; "
                "try again, use a smaller model, or raise RAG_LLM__TIMEOUT_S.")
    if isinstance(exc, openai.APIConnectionError):
        return (f"Cannot reach the LLM at {url}: is the server running? "
                "Set OPENAI_BASE_URL / RAG_LLM__BASE_URL to the right endpoint.")
    if isinstance(exc, openai.AuthenticationError):
        return f"The LLM at {url} answered HTTP 401: the API key was rejected; set OPENAI_API_KEY (or RAG_LLM__API_KEY)."
    if isinstance(exc, openai.PermissionDeniedError):
        return f"The LLM at {url} refused access to model {ep.model!r} (HTTP 403): check the API key's permissions."
    if isinstance(exc, openai.NotFoundError):
        return (f"The LLM at {url} does not serve the model {ep.model!r} (HTTP 404): set RAG_LLM__MODEL to a model "
                "it lists, or check that the base URL is right (it usually ends in /v1).")
    if isinstance(exc, openai.RateLimitError):
        return f"The LLM at {url} is rate-limiting requests (HTTP 429){after}: wait a little and try again."
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return f"The LLM at {url} failed with HTTP {exc.status_code}{after}: the server has a problem; try again later."
    if isinstance(exc, openai.APIStatusError):
        return f"The LLM at {url} refused the request (HTTP {exc.status_code}): {_server_message(exc)}"
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError)):
        return _NOT_JSON.format(url=url)
    return f"The LLM at {url} failed: {type(exc).__name__}."


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return str(error.get("message") if isinstance(error, dict) else error or exc.message)[:300]


def _openai_client(settings: Settings, base_url: str | None, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url, api_key=api_key, timeout=settings.llm.timeout_s, max_retries=settings.llm.max_retries
    )


def _endpoint(settings: Settings, client: openai.OpenAI, model: str, secret: str = "", **extra: Any) -> ChatEndpoint:
    llm = settings.llm
    return ChatEndpoint(client, model, llm.max_tokens, llm.temperature, llm.seed, extra or None, secret)


def _build_local(settings: Settings) -> ChatEndpoint:
    try:
        server = get_local_server(settings)
    except (ModelUnavailable, LocalServerError) as exc:
        raise LLMError(str(exc)) from exc
    client = _openai_client(settings, server.base_url, "local")
    return _endpoint(settings, client, server.model, cache_prompt=settings.llm.cache_prompt)


def _build_openai(settings: Settings) -> ChatEndpoint:
    llm = settings.llm
    key = llm.api_key.get_secret_value() if llm.api_key else ""
    # A keyless local server (vLLM, Ollama) is fine; a real cloud endpoint answers 401, which we explain.
    client = _openai_client(settings, llm.base_url, key or "not-set")
    return _endpoint(settings, client, llm.model, key)


_BUILDERS: dict[str, Callable[[Settings], ChatEndpoint | None]] = {
    "local": _build_local,
    "openai": _build_openai,
    "none": lambda settings: None,
}


def make_chat_client(settings: Settings) -> ChatEndpoint | None:
    """The chat endpoint for `settings.llm.backend`, or None for extractive mode (backend "none")."""
    return _BUILDERS[settings.llm.backend](settings)


def check(settings: Settings) -> str:
    """One status line for `rag doctor`: starts with "ok" or "error", never raises for LLM trouble.

    Asks `/v1/models` whether the model is served (a 1-token completion where there is no such route).
    For backend "local" this starts the bundled server, assembling the model on first use.
    """
    backend = settings.llm.backend
    try:
        endpoint = make_chat_client(settings)
        if endpoint is None:
            return "ok: LLM backend none (extractive answers, no model)"
        started = time.perf_counter()
        with endpoint._errors():
            try:
                served = [m.id for m in endpoint.client.models.list()]
            except openai.NotFoundError:  # some servers have no /v1/models: ask for one token instead
                served = None
        if served is not None and endpoint.model not in served:
            shown = ", ".join(served[:10]) or "none"
            return f"error: the LLM at {endpoint.url} does not serve {endpoint.model!r}; it serves: {shown}"
        if served is None:
            endpoint.complete([{"role": "user", "content": "Say OK."}], max_tokens=1)
        ms = (time.perf_counter() - started) * 1000
        return f"ok: LLM backend {backend}, model {endpoint.model} at {endpoint.url} answered in {ms:.0f} ms"
    except LLMError as exc:
        return f"error: LLM backend {backend}: {exc}"
