"""Helpers shared by the benchmarks: a corpus of real multilingual passages and result writing."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from evals.xquad import paragraphs as load_paragraphs

RESULTS = Path(__file__).resolve().parent / "results"


def write_passages(folder: Path, count: int, languages: tuple[str, ...] = ("de", "ar", "ru", "es", "zh", "tr", "el", "hi", "vi", "th", "ro", "en")) -> int:
    """`count` XQuAD paragraphs as .txt articles, languages assigned round-robin."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {lang: load_paragraphs(lang) for lang in languages}
    for i in range(count):
        lang = languages[i % len(languages)]
        paragraphs = texts[lang]
        (folder / f"xquad-{lang}-{i:05d}.txt").write_text(paragraphs[i % len(paragraphs)], encoding="utf-8")
    return count


def save(name: str, result: dict, markdown: str) -> Path:
    """Write `<name>.json` and `<name>.md` under bench/results, stamped with when and where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")
    return RESULTS / f"{name}.md"
