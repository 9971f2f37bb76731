"""Pure functions from answers, sources and summaries to HTML and Markdown, for the web UI.

Everything that comes from an article, a model or a user goes through `esc`: articles may carry hostile
HTML. Passages keep their original language, with `lang` and `dir` set so right-to-left scripts render
and shape correctly; citation markers link to the source cards by id (`src-<scope>-<n>`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from rag.retrieve import set_aside_note

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "sd", "ug", "yi", "dv", "ckb"})
_MARKER = re.compile(r"\[(\d+(?:\s*[,;،]\s*\d+)*)\]")
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})?")
_END_PUNCT = ".!?。؟…"


def esc(text: object) -> str:
    """HTML-escape any value (None becomes empty)."""
    return html.escape("" if text is None else str(text), quote=True)


def lang_attrs(language: str | None) -> str:
    """`lang` and `dir` attributes for text in `language` (unknown codes: dir=auto)."""
    code = language if language and _LANG.fullmatch(language) else "und"
    base = code.split("-")[0].lower()
    direction = "rtl" if base in RTL_LANGUAGES else "auto" if base == "und" else "ltr"
    return f'lang="{code}" dir="{direction}"'


def anchor(scope: str, n: int) -> str:
    return f"src-{scope}-{int(n)}"


def marker_html(n: int, scope: str) -> str:
    """A clickable `[n]` that opens and scrolls to source n of `scope`."""
    target = esc(anchor(scope, n))
    return f'<a class="cite" href="#{target}" data-target="{target}" title="Show source {int(n)}">[{int(n)}]</a>'


def marked_text_html(text: str, scope: str) -> str:
    """Escape text whose `[n]` / `[n, m]` markers become links to the sources of `scope`."""
    parts = _MARKER.split(text or "")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append("".join(marker_html(int(n), scope) for n in re.split(r"\s*[,;،]\s*", part)))
        else:
            out.append(esc(part))
    return "".join(out)


def claims_html(claims: Iterable, scope: str) -> str:
    """Verified sentences with their markers before the final punctuation; unsupported ones flagged."""
    parts = []
    for claim in claims:
        text = claim.text
        end = len(text.rstrip(_END_PUNCT))
        markers = "".join(marker_html(n, scope) for n in claim.citations)
        body = f"{esc(text[:end])} {markers}{esc(text[end:])}" if markers else esc(text)
        if claim.supported:
            parts.append(f'<span class="claim" dir="auto">{body}</span>')
        else:
            note = claim.note or "not supported by the sources"
            parts.append(f'<span class="claim flagged" dir="auto" title="{esc(note)}">{body}'
                         f' <span class="flag">⚠ {esc(note)}</span></span>')
    return " ".join(parts)


def answer_html(answer, scope: str) -> str:
    """One answer: its checked sentences, or the abstention, plus how it was produced."""
    why = ""
    if answer.abstained:
        body = f'<p class="abstained" dir="auto">{esc(answer.text)}</p>'
        why = f" · why: {esc(answer.abstain_reason)}" if answer.abstain_reason else ""
    else:
        body = f"<p>{claims_html(answer.claims, scope)}</p>"
    seconds = answer.timings_ms.get("total", 0) / 1000
    return (f'<div class="answer" {lang_attrs(answer.language)}>{body}</div>{set_aside_html(answer.set_aside)}'
            f'<div class="answer-meta">{esc(answer.mode)} · {seconds:.1f} s{why}</div>')


def set_aside_html(documents) -> str:
    """The warning naming sources left out because they try to instruct AI assistants ("" when none)."""
    note = set_aside_note(documents)
    return f'<div class="set-aside" dir="auto">⚠ {esc(note)}</div>' if note else ""


def transcript_html(turns: Sequence[tuple[str, object]], pending: tuple[str, str] | None = None) -> str:
    """The conversation; `pending` is (question, draft so far) while an answer is being made."""
    blocks = [
        f'<div class="turn"><div class="question" dir="auto">{esc(q)}</div>{answer_html(a, f"t{i}")}</div>'
        for i, (q, a) in enumerate(turns)
    ]
    if pending:
        question, draft = pending
        label = "Draft, being checked against the sources…" if draft else "Searching the articles…"
        blocks.append(f'<div class="turn"><div class="question" dir="auto">{esc(question)}</div>'
                      f'<div class="draft"><div class="draft-label">{label}</div>'
                      f'<div dir="auto">{esc(draft)}</div></div></div>')
    if not blocks:
        return '<p class="empty">Ask a question about the indexed articles, in any language.</p>'
    return "".join(blocks)


def highlighted_passage(ev) -> str:
    """The evidence's passage with its sentence in <mark>, by the sentence's exact offsets."""
    passage, start = ev.passage or "", ev.start - ev.passage_start
    end = start + (ev.end - ev.start)
    if not (0 <= start < end <= len(passage)) or passage[start:end].strip() != ev.text.strip():
        found = passage.find(ev.text) if ev.text else -1
        if found < 0:
            return f"<mark>{esc(ev.text)}</mark>"
        start, end = found, found + len(ev.text)
    return f"{esc(passage[:start])}<mark>{esc(passage[start:end])}</mark>{esc(passage[end:])}"


def source_html(ev, scope: str, *, open_: bool = True) -> str:
    """A source card: number, title, outlet, date, language and the highlighted passage."""
    lang = lang_attrs(ev.language)
    facts = [("Outlet", ev.source), ("Date", ev.date), ("Language", ev.language)]
    # Values are isolated left-to-right: an outlet like "الوفاق (Al-Wefaq), issue 7335" reads wrongly under
    # first-strong detection, while an LTR base keeps each Arabic run intact and in order.
    meta = " · ".join(f'{name}: <bdi dir="ltr">{esc(value)}</bdi>' for name, value in facts if value)
    return (f'<details class="source" id="{esc(anchor(scope, ev.n))}"{" open" if open_ else ""}>'
            f'<summary><span class="num">[{int(ev.n)}]</span> <bdi class="title" {lang}>{esc(ev.title)}</bdi></summary>'
            f'<div class="source-meta">{meta}</div>'
            f'<blockquote class="passage" {lang}>{highlighted_passage(ev)}</blockquote></details>')


def sources_html(turns: Sequence[tuple[str, object]]) -> str:
    """Sources of every answer, newest first; the newest answer's cards open."""
    sections = []
    for i in reversed(range(len(turns))):
        question, answer = turns[i]
        if answer.citations:
            cards = "".join(source_html(ev, f"t{i}", open_=i == len(turns) - 1) for ev in answer.citations)
            sections.append(f'<section class="turn-sources"><h4 dir="auto">{esc(question)}</h4>{cards}</section>')
    return "".join(sections) or '<p class="empty">The sources of each answer appear here: click a [n] marker to jump to one.</p>'


def retrieved_html(hits: Sequence) -> str:
    """Every retrieved passage with its score, for checking what the answer was drawn from."""
    if not hits:
        return '<p class="empty">No passages retrieved yet.</p>'
    items = []
    for rank, hit in enumerate(hits, 1):
        facts = " · ".join(f'<bdi dir="ltr">{esc(x)}</bdi>' for x in (hit.source, hit.date, hit.language) if x)
        items.append(f'<div class="hit"><div class="source-meta">#{rank} · score {hit.score:.3f} · '
                     f'<bdi class="title" {lang_attrs(hit.language)}>{esc(hit.title)}</bdi> · {facts}</div>'
                     f'<blockquote class="passage" {lang_attrs(hit.language)}>{esc(hit.text)}</blockquote></div>')
    return "".join(items)


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def _note_markdown(documents) -> str:
    note = set_aside_note(documents)
    return f"\n\n> ⚠ {_one_line(note)}" if note else ""


def sources_markdown(citations: Sequence) -> str:
    lines = []
    for ev in citations:
        where = ", ".join(x for x in (ev.source, ev.date, ev.language) if x)
        lines += [f"[{ev.n}] *{_one_line(ev.title)}*" + (f" ({_one_line(where)})" if where else ""), f"> {_one_line(ev.text)}", ""]
    return "\n".join(lines).rstrip()


def answer_markdown(question: str, answer) -> str:
    """The answer and each cited sentence in its original language, ready to paste as Markdown."""
    text = f"**Question:** {_one_line(question)}\n\n{answer.text}" + _note_markdown(answer.set_aside)
    return text + ("\n\n**Sources**\n\n" + sources_markdown(answer.citations) if answer.citations else "")


def coverage_line(coverage) -> str:
    """How many documents (and languages) the summary could draw on, used and cited."""
    docs, langs = coverage.to_dict()["documents"], coverage.to_dict()["languages"]
    return (f"Coverage: cited {len(docs['cited'])} of {len(docs['summarised'])} summarised documents "
            f"({len(docs['relevant'])} relevant of {len(docs['available'])} available); "
            f"languages cited: {', '.join(langs['cited']) or 'none'} of {', '.join(langs['available']) or 'none'}.")


def summary_html(summary) -> str:
    """The summary's themes as paragraphs with [n] markers, where sources differ, and its coverage."""
    if summary.points:
        body = "".join(f"<p>{claims_html(section, 'sum')}</p>" for section in summary.sections)
    else:
        body = f'<p class="abstained" dir="auto">{esc(summary.text)}</p>'
    differ = "".join(f'<li dir="auto">{marked_text_html(s.text, "sum")} <span class="flag">({esc(s.detail)})</span></li>'
                     for s in summary.differences)
    extra = f'<div class="differences"><h4>Where the sources differ</h4><ul>{differ}</ul></div>' if differ else ""
    if summary.dropped:
        extra += f'<div class="answer-meta">{len(summary.dropped)} points were dropped: their sources do not support them.</div>'
    return (f'<div class="answer" {lang_attrs(summary.language)}>{body}</div>{extra}'
            f'<div class="coverage">{esc(coverage_line(summary.coverage))}</div>{set_aside_html(summary.coverage.set_aside)}')


def summary_sources_html(summary) -> str:
    cards = "".join(source_html(ev, "sum") for ev in summary.citations)
    return cards or '<p class="empty">The summary cites no sources.</p>'


def summary_markdown(summary) -> str:
    """The summary, its coverage and each cited sentence, ready to paste as Markdown."""
    title = f"**Summary: {_one_line(summary.topic)}**" if summary.topic else "**Summary**"
    text = f"{title}\n\n{summary.text}\n\n*{coverage_line(summary.coverage)}*" + _note_markdown(summary.coverage.set_aside)
    return text + ("\n\n**Sources**\n\n" + sources_markdown(summary.citations) if summary.citations else "")


def notice_html(message: str, kind: str = "error") -> str:
    """A message area entry (kind: error, info)."""
    return f'<div class="notice notice-{esc(kind)}" role="status">{esc(message)}</div>' if message else ""


def settings_html(rows: Sequence[tuple[str, str]]) -> str:
    """Name/value pairs of the effective settings."""
    cells = "".join(f"<tr><th>{esc(name)}</th><td><bdi>{esc(value)}</bdi></td></tr>" for name, value in rows)
    return f'<table class="settings">{cells}</table>'


CSS = """
.answer, .draft, .question { font-size: 1.05rem; line-height: 1.6; }
.turn { margin-bottom: 1.2rem; }
.question { font-weight: 600; margin-bottom: .3rem; }
.question::before { content: "Q: "; color: var(--body-text-color-subdued); }
.answer-meta, .source-meta, .draft-label { font-size: .8rem; color: var(--body-text-color-subdued); }
.draft { opacity: .7; white-space: pre-wrap; }  /* no italics: synthetic oblique distorts Arabic */
a.cite { text-decoration: none; font-weight: 600; padding: 0 .1em; cursor: pointer; }
.claim.flagged { background: rgba(255, 170, 0, .18); border-bottom: 2px dashed #d08000; }
.flag { font-size: .8rem; color: #a05a00; }
.set-aside { font-size: .85rem; color: #a05a00; margin: .3rem 0; }
.abstained { color: var(--body-text-color-subdued); }
.sources-panel { max-height: 75vh; overflow-y: auto; }
details.source { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: .4rem .6rem; margin: .4rem 0; }
details.source:target, details.source.flash { outline: 3px solid var(--color-accent); }
.passage { margin: .4rem 0; padding: 0; padding-inline-start: .75rem; border: none;
  border-inline-start: 3px solid var(--border-color-primary); white-space: pre-wrap; unicode-bidi: plaintext; line-height: 1.7; }
.passage mark { padding: 0; }
.notice { padding: .5rem .8rem; border-radius: 6px; margin: .3rem 0; }
.notice-error { background: rgba(220, 40, 40, .12); border: 1px solid rgba(220, 40, 40, .5); }
.notice-info { background: rgba(40, 120, 220, .10); border: 1px solid rgba(40, 120, 220, .4); }
.hit { margin-bottom: 1rem; border-bottom: 1px solid var(--border-color-primary); }
.markdown-export textarea { unicode-bidi: plaintext; }
.doc-table * { font-family: var(--font) !important; }  /* monospace would space Arabic letters apart */
.empty { color: var(--body-text-color-subdued); }
table.settings th { text-align: start; padding-inline-end: 1rem; }
"""

# Runs once per HTML component: a click on a [n] marker opens its source card and scrolls to it.
CITE_JS = """
if (!element.dataset.citeBound) {
  element.dataset.citeBound = "1";
  element.addEventListener("click", (event) => {
    const link = event.target.closest("a.cite");
    if (!link) return;
    event.preventDefault();
    const card = document.getElementById(link.dataset.target);
    if (!card) return;
    card.open = true;
    card.scrollIntoView({block: "nearest"});
    card.classList.remove("flash");
    void card.offsetWidth;
    card.classList.add("flash");
  });
}
"""
