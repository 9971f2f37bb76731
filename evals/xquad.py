"""The XQuAD copy in evals/datasets/xquad as parallel paragraphs and questions.

Every language file holds the same 32 articles x 5 paragraphs and the same question ids in the same
order, so a paragraph's index identifies it in every language; that is what lets a benchmark index a
paragraph in one language and ask about it in another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "datasets" / "xquad"
LANGUAGES = ("en", "de", "ar", "ru", "es", "tr", "zh", "vi", "hi", "el", "th", "ro")


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    language: str
    paragraph: int  # index of the paragraph holding the answer, same in every language
    article: int


@cache
def _load(language: str) -> tuple[tuple[str, ...], tuple[Question, ...]]:
    data = json.loads((DATA_DIR / f"xquad.{language}.dev.json").read_text(encoding="utf-8"))["data"]
    paragraphs: list[str] = []
    questions: list[Question] = []
    for article, entry in enumerate(data):
        for para in entry["paragraphs"]:
            questions += [Question(qa["id"], qa["question"], language, len(paragraphs), article) for qa in para["qas"]]
            paragraphs.append(para["context"])
    return tuple(paragraphs), tuple(questions)


def paragraphs(language: str) -> tuple[str, ...]:
    """All paragraphs of one language, in dataset order."""
    return _load(language)[0]


def questions(language: str) -> tuple[Question, ...]:
    """All questions of one language, in dataset order."""
    return _load(language)[1]
