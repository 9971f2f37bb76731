"""Build evals/datasets/xquad_qa.jsonl: 60 English XQuAD questions over German/Arabic passages.

Deterministic and stdlib only. Reads the XQuAD dev copies in evals/datasets/xquad/ (every language file
has the same articles, paragraphs and question ids in the same order) and writes one JSON object per
line:

    {"id": "x001", "question": <English question>, "language": "en", "type": "single-source",
     "facts": [{"id": "f1", "any_of": [<gold answer en>, <gold answer de>, <gold answer ar>]}],
     "documents": ["xquad-de-<p>", "xquad-ar-<p>"], "paragraph": <p>, "article": <a>,
     "xquad_id": <question id>, "split": "tune" | "heldout"}

Selection: 60 questions evenly spaced over the 826 dev questions (about every 14th, position
round((i + 0.5) * 826 / 60)), so every part of the dataset is represented. The passages are meant to be
indexed in German and Arabic only, so an English question has to cross languages to be answered.

The answer in de/ar is the gold answer of the parallel question (same position) in that language file.
Split: the convention of evals/retrieval.py, by article, so nothing tuned there leaks: articles 0-21 are
`tune`, articles 22-31 are `heldout` (about 30% of the questions).

Run from the repository root or anywhere: python evals/datasets/build_xquad_qa.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
XQUAD_DIR = HERE / "xquad"
OUT = HERE / "xquad_qa.jsonl"
N_ITEMS = 60
INDEX_LANGUAGES = ("de", "ar")
HELDOUT_FROM_ARTICLE = 22  # same split as evals/retrieval.py (articles 22-31 are held out)


def load(language: str) -> list[dict]:
    """Every question of one language in dataset order, with its article and global paragraph index."""
    data = json.loads((XQUAD_DIR / f"xquad.{language}.dev.json").read_text(encoding="utf-8"))["data"]
    rows: list[dict] = []
    paragraph = 0
    for article, entry in enumerate(data):
        for para in entry["paragraphs"]:
            for qa in para["qas"]:
                rows.append({
                    "qid": qa["id"],
                    "question": qa["question"].strip(),
                    "answer": qa["answers"][0]["text"].strip(),
                    "article": article,
                    "paragraph": paragraph,
                    "context": para["context"],
                })
            paragraph += 1
    return rows


def main() -> None:
    en = load("en")
    others = {lang: load(lang) for lang in INDEX_LANGUAGES}
    total = len(en)
    for lang, rows in others.items():
        if len(rows) != total or any(a["qid"] != b["qid"] for a, b in zip(en, rows)):
            raise SystemExit(f"xquad.{lang} is not parallel to xquad.en")
    positions = sorted({round((i + 0.5) * total / N_ITEMS) for i in range(N_ITEMS)})
    assert len(positions) == N_ITEMS, positions
    lines = []
    for n, pos in enumerate(positions, start=1):
        q = en[pos]
        answers: list[str] = []
        for text in [q["answer"]] + [others[lang][pos]["answer"] for lang in INDEX_LANGUAGES]:
            if text and text not in answers:
                answers.append(text)
        for lang in INDEX_LANGUAGES:  # the indexed passages must contain their own gold answer
            row = others[lang][pos]
            assert row["answer"] in row["context"], (lang, pos, row["answer"])
        item = {
            "id": f"x{n:03d}",
            "question": q["question"],
            "language": "en",
            "type": "single-source",
            "facts": [{"id": "f1", "any_of": answers}],
            "documents": [f"xquad-{lang}-{q['paragraph']}" for lang in INDEX_LANGUAGES],
            "paragraph": q["paragraph"],
            "article": q["article"],
            "xquad_id": q["qid"],
            "split": "heldout" if q["article"] >= HELDOUT_FROM_ARTICLE else "tune",
        }
        lines.append(json.dumps(item, ensure_ascii=False))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    heldout = sum('"split": "heldout"' in line for line in lines)
    print(f"wrote {len(lines)} items to {OUT} ({heldout} heldout)")


if __name__ == "__main__":
    main()
