"""Chat models: the bundled local model (llama.cpp server) or any OpenAI-compatible endpoint.

Names are imported on first use so that `import rag.llm` (CLI start-up, the server child process)
does not pay for importing the openai client.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ChatEndpoint": "client",
    "LLMError": "client",
    "check": "client",
    "make_chat_client": "client",
    "ModelUnavailable": "local_model",
    "ensure_model": "local_model",
    "LocalServer": "local_server",
    "LocalServerError": "local_server",
    "close_local_server": "local_server",
    "get_local_server": "local_server",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rag.llm' has no attribute {name!r}")
    return getattr(import_module(f"rag.llm.{_EXPORTS[name]}"), name)
