"""Token counting with tiktoken, offline: the BPE file shipped inside llama-index-core is used."""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _encoding():
    # find_spec locates the package without importing it: importing llama_index.core costs ~1.8 s.
    spec = importlib.util.find_spec("llama_index.core")
    cache = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens in `text` as the OpenAI cl100k tokenizer counts them (a stable budget unit)."""
    return len(_encoding().encode(text, disallowed_special=()))
