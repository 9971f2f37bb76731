"""Fixtures shared across the test suite."""

pytest_plugins = ["tests.rag_fixtures"]

import pytest

try:
    from tests.fakes.openai_server import FakeOpenAI
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from fakes.openai_server import FakeOpenAI


@pytest.fixture
def fake_openai():
    """A real OpenAI-protocol HTTP server on 127.0.0.1, scripted through `reply(...)`."""
    with FakeOpenAI() as fake:
        yield fake
