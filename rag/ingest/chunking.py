"""Sentence splitting and token-bounded chunking.

Chunks carry the character offsets of their sentences so an answer can cite the exact source sentence.
The rules follow the punctuation of the script rather than a per-language model: they need no download
and behave the same whatever the language detector guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.documents import Chunk, Document
from rag.tokens import count_tokens

# A line is a paragraph in news text, so every line break ends a sentence.
_LINE = re.compile(r"[^\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
_NEWLINE = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_NON_SPACE = re.compile(r"\S")
# Terminators, then what stays with the sentence: closing quotes/brackets (French sets » after a space)
# and reference markers such as "[1]" or " [2, 3]".
_TERMINATOR = re.compile(
    r"(?P<stop>[.!?…؟۔।॥。！？]+)"
    r"(?P<close>(?:[”»“\"’')\]}›」』]|[ \u00a0\u202f]»(?!\w)| ?\[\d{1,3}(?:[,;،] ?\d{1,3})*\])*)"
)
_CJK_STOPS = "。！？"
_QUOTE = re.compile(r'[«»„“”"‹›]')
# Opening quote -> the characters that close it (» opens German »...«; „ closes with “ or ”).
_CLOSERS = {"«": "»", "»": "«", "‹": "›", "›": "‹", "„": "“”", "“": "”", '"': '"'}
_OPENERS = "\"'«„“‘([{¿¡"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr gen col lt sgt capt gov sen rev vs etc approx dept fig "  # en
    "mm mme mmes mlle mlles pr ste av env cf "  # fr
    "bzw usw ca nr hr fr str vgl ggf evtl inkl mio mrd sog jh abs "  # de
    "sra srta dra ud uds pág núm".split()  # es
)
_DOTTED = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")  # z.B, d.h, u.a, e.g, i.e, U.S
_MONTHS_DE = frozenset("Januar Jänner Februar März April Mai Juni Juli August September Oktober November Dezember".split())
_WORD = re.compile(r"\s*([^\W\d_]+)")
# Where an over-long sentence may be cut: after clause marks (CJK ones need no following space), then at spaces.
_CLAUSE_END = re.compile(r"[،؛;,:–—](?=\s)|[，、；：]")
_SPACE = re.compile(r"\s+")


def split_sentences(text: str, language: str = "und") -> list[tuple[int, int]]:
    """Sentence spans (start, end) into `text`, trimmed, in order, covering every non-space character.

    `language` is accepted for callers that know it, but the rules are driven by the characters only, so a
    mis-detected language cannot change the split.
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        cut = line.start()
        for boundary in [*_boundaries(text, line.start(), line.end()), line.end()]:
            if span := _trim(text, cut, boundary):
                spans.append(span)
            cut = boundary
    return spans


def chunk_document(
    doc: Document,
    max_tokens: int = 220,
    overlap_sentences: int = 1,
    detect_language: Callable[[str], str] | None = None,
) -> list[Chunk]:
    """Pack consecutive sentences into chunks of at most `max_tokens`, repeating `overlap_sentences` between chunks.

    Only a single piece that cannot be cut further (one character) may exceed the budget.
    """
    if max_tokens < 1 or overlap_sentences < 0:
        raise ValueError("max_tokens must be >= 1 and overlap_sentences >= 0")
    text = doc.text
    units, steps = _units(text, split_sentences(text, doc.language), max_tokens)
    n = len(units)
    # breaks[k]: a paragraph ends after unit k.
    breaks = [k + 1 < n and _NEWLINE.search(text, units[k][1], units[k + 1][0]) is not None for k in range(n)]
    chunks: list[Chunk] = []
    first, fresh = 0, 0  # first unit of the chunk, first unit not yet in any chunk
    while fresh < n:
        # The overlap is shortened until the first new unit fits beside it.
        total = count_tokens(text[units[first][0] : units[fresh][1]])
        while total > max_tokens and first < fresh:
            first += 1
            total = count_tokens(text[units[first][0] : units[fresh][1]])
        last = fresh
        totals = [total]
        while last + 1 < n and total + steps[last + 1] <= max_tokens:
            last += 1
            total += steps[last]
            totals.append(total)
        if last + 1 < n and not breaks[last]:
            for k in range(last - 1, fresh - 1, -1):
                if breaks[k] and totals[k - fresh] >= 0.6 * max_tokens:
                    last = k
                    break
        tokens = count_tokens(text[units[first][0] : units[last][1]])
        while tokens > max_tokens and last > fresh:  # the per-unit sums are an estimate; the budget is exact
            last -= 1
            tokens = count_tokens(text[units[first][0] : units[last][1]])
        start, end = units[first][0], units[last][1]
        chunk_text = text[start:end]
        chunks.append(
            Chunk(
                doc_id=doc.doc_id,
                index=len(chunks),
                text=chunk_text,
                start=start,
                end=end,
                sentences=units[first : last + 1],
                language=_chunk_language(chunk_text, doc.language, detect_language),
                token_count=tokens,
            )
        )
        fresh = last + 1
        first = max(first + 1, fresh - overlap_sentences)  # never repeat a whole chunk
    return chunks


def _boundaries(text: str, start: int, end: int) -> list[int]:
    """Sentence ends inside one line, as offsets just after the terminator and its closing quotes."""
    quotes = list(_QUOTE.finditer(text, start, end))
    stack: list[tuple[int, str]] = []  # open quotes: (position, closing characters)
    closed_at: dict[int, int] = {}
    candidates = []  # (terminator match, innermost quote open before it)
    q = 0
    for m in _TERMINATOR.finditer(text, start, end):
        while q < len(quotes) and quotes[q].start() < m.start():
            _track_quote(quotes[q], stack, closed_at)
            q += 1
        candidates.append((m, stack[-1][0] if stack else None))
    for quote in quotes[q:]:
        _track_quote(quote, stack, closed_at)
    # A quote still open at the end of the line runs to it.
    closes = [None if opened is None else closed_at.get(opened, end) for _, opened in candidates]
    return [m.end() for (m, _), close in zip(candidates, closes) if _ends_sentence(text, m, end, close)]


def _track_quote(quote: re.Match[str], stack: list[tuple[int, str]], closed_at: dict[int, int]) -> None:
    char = quote.group()
    if stack and char in stack[-1][1]:
        closed_at[stack.pop()[0]] = quote.start()
    elif char in _CLOSERS:
        stack.append((quote.start(), _CLOSERS[char]))


def _ends_sentence(text: str, m: re.Match[str], line_end: int, quote_close: int | None) -> bool:
    """Whether terminator `m` ends a sentence; `quote_close` is where the innermost enclosing quote closes."""
    stop, end = m["stop"], m.end()
    following = _NON_SPACE.search(text, end, line_end)
    if following is None:  # the line end closes the sentence anyway
        return False
    nxt = following.start()
    if stop[-1] in _CJK_STOPS:  # no space needed, but 。」と言った continues the sentence
        return not (m["close"] and nxt == end and text[nxt].isalpha())
    if nxt == end or _continues(text[nxt]):
        return False
    if stop == "." and _is_abbreviation(text, m.start(), end, line_end):
        return False
    if quote_close is not None and quote_close >= end:  # still inside a quote
        if "…" in stop or ".." in stop:
            return False
        # « La grandeur ... brisée. Et ... », selon les médias: the quote belongs to a longer sentence.
        after = _NON_SPACE.search(text, quote_close + 1, line_end)
        return not (after and _continues(after.group()))
    return True


def _continues(char: str) -> bool:
    """A sentence cannot start with a lowercase letter or a clause mark (Georgian has no case in running text)."""
    return char in ",;:" or (char.islower() and not "\u10d0" <= char <= "\u10ff")


def _is_abbreviation(text: str, dot: int, end: int, line_end: int) -> bool:
    """Abbreviations, initials ("V. Putin") and German dates ("7. Oktober") end with a dot that is no full stop."""
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
        if dot - start > 10:  # longer than any abbreviation
            return False
    token = text[start:dot].lstrip(_OPENERS)
    if (len(token) == 1 and token.isupper()) or token.lower() in _ABBREVIATIONS or _DOTTED.fullmatch(token):
        return True
    word = _WORD.match(text, end, line_end)
    return token.isdigit() and len(token) <= 2 and word is not None and word.group(1) in _MONTHS_DE


def _units(text: str, sentences: list[tuple[int, int]], max_tokens: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Sentences, with over-long ones cut into pieces, and each one's token cost when appended to the previous.

    Counting every unit once (with the space before it) and summing keeps chunking linear in the text size.
    """
    units: list[tuple[int, int]] = []
    steps: list[int] = []
    for s, e in sentences:
        step = count_tokens(text[units[-1][1] if units else s : e])
        if step > max_tokens and count_tokens(text[s:e]) > max_tokens:
            for ps, pe in _split_long(text, s, e, max_tokens, 0):
                steps.append(count_tokens(text[units[-1][1] if units else ps : pe]))
                units.append((ps, pe))
        else:
            units.append((s, e))
            steps.append(step)
    return units, steps


def _split_long(text: str, s: int, e: int, limit: int, level: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at clause marks, then at spaces, then into character windows."""
    if level == 2:
        return _windows(text, s, e, limit)
    if level == 0:
        cuts = [m.end() for m in _CLAUSE_END.finditer(text, s, e)]
    else:
        cuts = [m.start() for m in _SPACE.finditer(text, s, e)]
    pieces: list[tuple[int, int]] = []
    start, total = s, 0
    for a, b in zip([s, *cuts], [*cuts, e]):
        tokens = count_tokens(text[a:b])
        if tokens > limit:
            pieces.append((start, a))
            pieces.extend(_split_long(text, a, b, limit, level + 1))
            start, total = b, 0
        elif total + tokens > limit:
            pieces.append((start, a))
            start, total = a, tokens
        else:
            total += tokens
    pieces.append((start, e))
    return [span for piece in pieces if (span := _trim(text, *piece))]


def _windows(text: str, s: int, e: int, limit: int) -> list[tuple[int, int]]:
    """Character windows for runs without spaces (CJK, long URLs), shrunk until each fits the budget."""
    s, e = _trim(text, s, e) or (e, e)
    pieces = []
    while s < e:
        size = min(e - s, 4 * limit)  # about four characters per token in Latin script
        while size > 1 and (tokens := count_tokens(text[s : s + size])) > limit:
            size = max(1, min(size - 1, size * limit // tokens))
        pieces.append((s, s + size))
        s += size
    return pieces


def _trim(text: str, s: int, e: int) -> tuple[int, int] | None:
    """(s, e) without surrounding whitespace, or None if it holds only whitespace."""
    first = _NON_SPACE.search(text, s, e)
    if first is None:
        return None
    while text[e - 1].isspace():
        e -= 1
    return first.start(), e


def _chunk_language(text: str, default: str, detect: Callable[[str], str] | None) -> str:
    """Detect per chunk (articles mix languages) only when there is enough text to be reliable."""
    if detect is None or sum(ch.isalpha() for ch in text) < 40:
        return default
    return detect(text)


def short_units(text: str, spans: list[tuple[int, int]], max_tokens: int) -> list[tuple[int, int]]:
    """The spans, each over `max_tokens` cut at clause marks, then spaces (as over-long sentences are cut for
    chunks): units of comparable length whatever the language's sentence habits."""
    return [piece for s, e in spans for piece in (_split_long(text, s, e, max_tokens, 0) if count_tokens(text[s:e]) > max_tokens else [(s, e)])]
