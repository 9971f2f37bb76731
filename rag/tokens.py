"""Token counting with tiktoken, offline: the BPE file shipped inside llama-index-core is used."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _encoding():
    import llama_index.core

    cache = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens in `text` as the OpenAI cl100k tokenizer counts them (a stable budget unit)."""
    return len(_encoding().encode(text, disallowed_special=()))
