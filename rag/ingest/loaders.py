"""Read one source file (txt, md, html, pdf) into plain Unicode text plus whatever metadata it carries.

Every failure a user can cause with a file (too big, binary, empty, encrypted, corrupt...) becomes a
`LoadError` whose message is a short reason shown next to the file name; nothing else escapes.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import lxml.html
import trafilatura
import yaml
from charset_normalizer import CharsetMatch, from_bytes
from lxml import etree
from pypdf import PdfReader
from pypdf.errors import DependencyError

from rag.ingest.clean import find_date

log = logging.getLogger(__name__)

_BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAX_CONTROL_SHARE = 0.01  # real text has (almost) no control characters; decoded binary has many
_STRAY_CONTROLS = 3  # a few stray ones (a bell, an old EOF mark) do not make a short file binary
_LINE_BREAKS = re.compile("\r\n?|[\v\f\x85\u2028\u2029]")  # all become "\n": dropping them would glue words
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # C0/C1 except \t \n (and the breaks above)
# Invisible characters that carry no text: zero-width space, word joiner, Mongolian vowel separator and the
# Unicode "tag" block. They can split a planted instruction so that no filter reads it ("Ig\u200bnore ...") or
# hide one entirely. ZWNJ and ZWJ stay: Persian and Indic scripts need them.
_INVISIBLE = re.compile("[\u200b\u2060\u180e\U000e0000-\U000e007f]")
_HIDDEN_KEY = "\x00hidden"  # how the HTML reader hands load_bytes the hidden text (never a metadata name)
# Elements a browser does not show: text hidden from readers is addressed to machines (prompt injection).
_HIDDEN = (
    "//*[@hidden] | //*[@aria-hidden='true'] | //*[contains(translate(@style, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ ', "
    "'abcdefghijklmnopqrstuvwxyz'), 'display:none') or contains(translate(@style, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ ', "
    "'abcdefghijklmnopqrstuvwxyz'), 'visibility:hidden')]"
)
_INVISIBLE_STYLE = re.compile(
    r"(?:^|;)\s*(?:font-size\s*:\s*(?:0|1)(?:\.\d+)?(?:px|pt)?\s*(?:;|$)|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)"
    r"|color\s*:\s*(?:#fff(?:fff)?|white|transparent|rgba?\(\s*255\s*,\s*255\s*,\s*255\s*(?:,\s*[\d.]+\s*)?\))\s*(?:;|$))",
    re.IGNORECASE,
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_PDF_DATE = re.compile(r"(?:D:)?(\d{4})(\d{2})(\d{2})")
_SIDECAR_MAX_BYTES = 1 << 20
_MIXED_MIN_UTF8_CHARS = 8  # legacy text can form a few valid multi-byte UTF-8 characters by chance (cp1256 "ة،")
_UTF8_CHAR = re.compile(  # one well-formed multi-byte UTF-8 character
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_MAX_LINE_CHARS = 200_000  # ~30,000 words without a line break: generated data (base64, minified), not an article
_SPECIAL_FILES = ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"))
# (first bytes, what the file really is, the format to rename it to when we read that format)
_SIGNATURES = (
    (b"%PDF-", "PDF content", "pdf"),
    (b"PK\x03\x04", "a ZIP archive (or .docx/.odt/.epub)", None),
    (b"\x1f\x8b", "gzip-compressed data", None),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", None),
    (b"\xff\xd8\xff", "a JPEG image", None),
    (b"GIF8", "a GIF image", None),
    (b"\x7fELF", "an executable", None),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.doc/.xls)", None),
    (b"{\\rtf", "an RTF document", None),
)
_META_ALIASES = {
    "lang": "language",
    "sitename": "source",
    "site_name": "source",
    "publisher": "source",
    "outlet": "source",
    "authors": "author",
    "link": "url",
    "published": "date",
}
_NON_CONTENT = "//script|//style|//noscript|//template|//nav|//header|//footer|//aside|//form"
_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
               "blockquote", "pre", "table", "ul", "ol", "dd", "dt", "figcaption")


class LoadError(Exception):
    """A file cannot be ingested; the message is the short reason shown next to the file name."""


@dataclass
class LoadedText:
    """Text of one file with the metadata found in it or next to it."""

    text: str
    format: str  # "txt" | "md" | "html" | "pdf"
    title: str | None = None
    meta: dict[str, str] = field(default_factory=dict)  # title, source, date (yyyy-mm-dd), language, url, author...
    hidden_text: str = ""  # what an HTML page hides from readers (removed from `text`), one element per line


def _human_size(n: float) -> str:
    """Sizes as people read them in a reason: "52.3 MB", "25 MB", "100 bytes"."""
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{int(n)} bytes"


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise LoadError("is a directory")
    kind = next((name for test, name in _SPECIAL_FILES if test(info.st_mode)), None)
    if kind:  # reading a pipe or device could block forever or never end
        raise LoadError(f"not a regular file ({kind})")
    if info.st_size > max_bytes:
        raise LoadError(f"too large: {_human_size(info.st_size)} > {_human_size(max_bytes)} limit")


def read_source(path: Path, max_bytes: int) -> bytes:
    """Raw bytes of a regular file, read once and at most `max_bytes`: oversized files are refused from
    their size before reading, pipes and devices are never opened, a file that grew is cut off."""
    try:
        _check_regular(os.stat(path), max_bytes)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a pipe swapped in since stat cannot block
        with open(fd, "rb") as handle:
            _check_regular(os.fstat(fd), max_bytes)
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise LoadError(f"too large: more than {_human_size(max_bytes)} limit")
    if not data.strip():
        raise LoadError("empty file")
    return data


def _best_guess(data: bytes) -> CharsetMatch | None:
    """charset-normalizer's guess, preferring cp1252 on ties: on short Western text it often picks
    cp1250 or a CJK code page that decodes "à" or "ü" wrongly."""
    best = from_bytes(data).best()
    western = from_bytes(data, cp_isolation=["cp1252"]).best()
    if western is not None and (best is None or (western.chaos <= best.chaos and western.coherence >= best.coherence)):
        return western
    return best


def _declared_charset(html: bytes) -> str | None:
    """Charset named in a page's <meta>, read as browsers do: Latin-1/ASCII labels mean cp1252, and a
    UTF-16/32 label on a page without BOM or NUL bytes is a mistake."""
    match = _META_CHARSET.search(html[:4096])
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name if match else None
    except LookupError:
        return None
    if name in ("iso8859-1", "ascii"):
        return "cp1252"
    return None if name is None or name.startswith(("utf-16", "utf-32")) else name


def _decode(data: bytes, declared: str | None = None) -> str:
    """BOM, then strict UTF-8, then a declared charset (HTML), then charset-normalizer."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if b"\x00" in data:  # only UTF-16/32 text (here without BOM) legitimately contains NUL bytes
        guess = from_bytes(data).best()
        if guess is None or not guess.encoding.startswith(("utf_16", "utf_32")):
            raise LoadError("binary file (not text)")
        return str(guess)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":  # a UTF-8 file cut off in the middle of a character
            return data[: exc.start].decode("utf-8")
    mixed = _decode_mixed(data, declared)
    if mixed is not None:
        return mixed
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    guess = _best_guess(data)
    if guess is None:
        raise LoadError("binary file (not text)")
    return str(guess)


def _decode_mixed(data: bytes, declared: str | None) -> str | None:
    """Text glued together from UTF-8 and a legacy encoding (concatenated files, cp1252 quotes pasted into
    UTF-8). Valid UTF-8 lines stay UTF-8; a line whose UTF-8 characters outnumber its stray bytes is UTF-8
    with those bytes in the legacy encoding; other lines are wholly legacy: the declared charset, else the
    one guessed from those lines, else cp1252. None when too few UTF-8 characters to rule out chance."""
    lines = data.splitlines(keepends=True)
    utf8: set[int] = set()
    evidence = 0
    for i, line in enumerate(lines):
        chars = len(_UTF8_CHAR.findall(line))
        if chars > len(_NON_ASCII.findall(_UTF8_CHAR.sub(b"", line))) or line.isascii():
            utf8.add(i)
            evidence += chars
    if evidence < _MIXED_MIN_UTF8_CHARS:
        return None
    legacy = b"".join(line for i, line in enumerate(lines) if i not in utf8)
    guess = None if declared or not legacy else _best_guess(legacy)
    encoding = declared or (guess.encoding if guess else "cp1252")

    def legacy_text(piece: bytes) -> str:
        return piece.decode("ascii" if piece.isascii() else encoding, errors="replace")

    out = []
    for i, line in enumerate(lines):
        if i in utf8:
            chars = iter(_UTF8_CHAR.findall(line))  # split() below leaves the bytes between UTF-8 characters
            out += [legacy_text(piece) + next(chars, b"").decode("utf-8") for piece in _UTF8_CHAR.split(line)]
        else:
            out.append(legacy_text(line))
    return "".join(out)


def _normalise(text: str) -> str:
    """One newline convention, no control or invisible characters, NFC (keeps diacritics, ZWNJ/ZWJ and RTL text)."""
    text = _INVISIBLE.sub("", _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))).replace("\ufeff", "")  # stray BOMs too
    return unicodedata.normalize("NFC", text)


def _to_text(data: bytes, declared: str | None = None) -> str:
    """Decoded, normalised text; many control characters mean we decoded something that is not text."""
    text = _LINE_BREAKS.sub("\n", _decode(data, declared))
    if len(_CONTROLS.findall(text)) > max(_STRAY_CONTROLS, _MAX_CONTROL_SHARE * len(text)):
        raise LoadError("binary file (not text)")
    return _normalise(text)


def _meta_value(value: Any) -> str | None:
    """Scalars and lists of scalars as text; nested structures are not metadata we can use."""
    if isinstance(value, date):  # also datetime
        return value.isoformat()[:10]
    if isinstance(value, (str, int, float)):
        return str(value).strip() or None
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v).strip() for v in value if str(v).strip()) or None
    return None


def _iso_date(value: str) -> str | None:
    """ISO dates as given, anything else ("21 septembre 2023") through find_date."""
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return find_date(value)


def _clean_meta(mapping: dict[Any, Any]) -> dict[str, str]:
    """Front matter / sidecar / HTML metadata with common key aliases, ISO dates, bare language codes."""
    meta: dict[str, str] = {}
    for key, value in mapping.items():
        name = str(key).strip().lower()
        text = _meta_value(value)
        if text:
            meta[_META_ALIASES.get(name, name)] = text
    if "date" in meta:  # an unparseable date is dropped rather than passed on as junk
        iso = _iso_date(meta.pop("date"))
        if iso:
            meta["date"] = iso
    if "language" in meta:
        meta["language"] = re.split(r"[-_]", meta["language"])[0].lower()
    return meta


def _yaml_mapping(source: str) -> dict[Any, Any] | None:
    """A YAML mapping, or None when the text is not valid YAML or not a mapping."""
    try:
        data = yaml.safe_load(source)
    except (yaml.YAMLError, ValueError):  # ValueError: impossible dates such as 2023-02-30
        return None
    return data if isinstance(data, dict) else None


def sidecar_bytes(path: Path) -> bytes:
    """The bytes of `<stem>.meta.yaml` next to the file, or b"" when there is none or it must not be read:
    too big, not a regular file, or a symlink leading out of the article's folder (like articles themselves)."""
    sidecar = path.with_name(f"{path.stem}.meta.yaml")
    try:
        if not sidecar.is_file() or sidecar.stat().st_size > _SIDECAR_MAX_BYTES:
            return b""
        if sidecar.is_symlink() and sidecar.resolve().parent != path.parent.resolve():
            log.warning("ignoring sidecar %s: a symlink leading out of the article's folder", sidecar)
            return b""
        return sidecar.read_bytes()
    except OSError as exc:
        log.warning("ignoring unreadable sidecar %s: %s", sidecar, exc)
        return b""


def read_sidecar(path: Path) -> dict[str, str]:
    """Metadata from `<stem>.meta.yaml` next to the file; a broken sidecar is logged and ignored."""
    sidecar = path.with_name(f"{path.stem}.meta.yaml")
    data = sidecar_bytes(path)
    if not data:
        return {}
    try:
        mapping = _yaml_mapping(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        log.warning("ignoring unreadable sidecar %s: %s", sidecar, exc)
        return {}
    if mapping is None:
        log.warning("ignoring sidecar %s: not a YAML mapping", sidecar)
        return {}
    return _clean_meta(mapping)


def _read_txt(data: bytes) -> tuple[str, dict[str, str]]:
    return _to_text(data), {}


def _read_markdown(data: bytes) -> tuple[str, dict[str, str]]:
    """Optional YAML front matter between `---` lines; if it does not parse, the whole file is text."""
    text = _to_text(data)
    match = _FRONT_MATTER.match(text)
    mapping = _yaml_mapping(match.group(1)) if match else None
    if mapping is None:
        return text, {}
    return text[match.end():], _clean_meta(mapping)


def _body_text(html: str) -> str:
    """Fallback when trafilatura finds no article: visible body text, one block per line."""
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return ""
    for element in root.xpath(_NON_CONTENT):
        element.drop_tree()
    _drop_hidden(root)
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    body = root.find("body")
    text = (body if body is not None else root).text_content()
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _drop_hidden(tree) -> str:
    """Remove what readers never see: hidden elements and inline-styled invisible text (zero or 1px font,
    zero opacity, white or transparent colour). Returns that text, one element per line."""
    hidden = set(tree.xpath(_HIDDEN)) | {e for e in tree.xpath("//*[@style]") if _INVISIBLE_STYLE.search(e.get("style", ""))}
    removed = []
    for element in hidden:
        if element.getparent() is not None:
            removed.append(" ".join(element.text_content().split()))
            element.drop_tree()
    return "\n".join(text for text in removed if text)


def _read_html(data: bytes) -> tuple[str, dict[str, str]]:
    """Main article text via trafilatura (precision over recall), with the page's metadata."""
    html = _to_text(data, _declared_charset(data))
    tree = trafilatura.load_html(html)
    if tree is None:
        raise LoadError("HTML has no main text")
    for element in tree.xpath("//noscript"):  # only browsers without JavaScript show it ("Enable JavaScript to...")
        element.drop_tree()
    hidden = _drop_hidden(tree)
    found = trafilatura.extract_metadata(tree)
    text = trafilatura.extract(tree, include_comments=False, include_tables=False, favor_precision=True)
    text = text or _body_text(html)
    if not text.strip():
        raise LoadError("HTML has no main text")
    fields = ("title", "date", "sitename", "author", "url", "language")
    meta = _clean_meta({name: getattr(found, name, None) for name in fields}) if found else {}
    if hidden:
        meta[_HIDDEN_KEY] = hidden
    return re.sub(r"\n+", "\n\n", text), meta  # one block per line -> paragraphs, like .txt sources


def _pdf_meta(reader: PdfReader) -> dict[str, str]:
    """Title, author and creation date from the PDF info dictionary (parsed leniently)."""
    info = reader.metadata
    if info is None:
        return {}
    created = _PDF_DATE.match(str(info.creation_date_raw or ""))
    date_text = "-".join(created.groups()) if created else None
    return _clean_meta({"title": info.title, "author": info.author, "date": date_text})


def _read_pdf(data: bytes) -> tuple[str, dict[str, str]]:
    """Text of every page; encrypted, corrupt or image-only PDFs become LoadErrors."""
    try:
        reader = PdfReader(io.BytesIO(data))
        locked = reader.is_encrypted and not reader.decrypt("")  # many PDFs use an empty user password
        pages = [] if locked else [page.extract_text() or "" for page in reader.pages]
        meta = {} if locked else _pdf_meta(reader)
    except DependencyError:
        raise LoadError("encrypted PDF (decrypting needs the 'cryptography' package)") from None
    except Exception as exc:  # pypdf raises many exception types on damaged files
        raise LoadError(f"corrupt PDF: {exc}"[:120]) from None
    if locked:
        raise LoadError("encrypted PDF (password required)")
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise LoadError("no readable text in PDF")
    return _normalise(text), meta


_READERS: dict[str, tuple[str, Callable[[bytes], tuple[str, dict[str, str]]]]] = {
    ".txt": ("txt", _read_txt),
    ".md": ("md", _read_markdown),
    ".markdown": ("md", _read_markdown),
    ".html": ("html", _read_html),
    ".htm": ("html", _read_html),
    ".pdf": ("pdf", _read_pdf),
}


def _reader(path: Path) -> tuple[str, Callable[[bytes], tuple[str, dict[str, str]]]]:
    try:
        return _READERS[path.suffix.lower()]
    except KeyError:
        raise LoadError(f"unsupported file type: {path.suffix or '(no extension)'}") from None


def _disguised(data: bytes, fmt: str, suffix: str) -> str | None:
    """The reason to refuse bytes that start like another kind of file than the extension says, if they do."""
    for magic, kind, real_format in _SIGNATURES:
        if data.startswith(magic) and real_format != fmt:
            if real_format:
                return f"{kind} in a {suffix} file: rename it to .{real_format}"
            return f"{kind}, not {'a PDF' if fmt == 'pdf' else 'text'}"
    return None


def _check_lines(text: str) -> None:
    longest = max(len(line) for line in text.split("\n"))
    if longest > _MAX_LINE_CHARS:
        raise LoadError(f"a line of {longest:,} characters without a break (limit {_MAX_LINE_CHARS:,}): not article text")


def load_bytes(path: Path, data: bytes) -> LoadedText:
    """Text and metadata of a file's bytes (from read_source), or LoadError with a short reason. Sidecar
    metadata wins."""
    fmt, reader = _reader(path)
    disguised = _disguised(data, fmt, path.suffix)
    if disguised:
        raise LoadError(disguised)
    text, meta = reader(data)
    if not text.strip():
        raise LoadError("empty file")
    _check_lines(text)
    hidden = meta.pop(_HIDDEN_KEY, "")
    meta.update(read_sidecar(path))
    return LoadedText(text=text, format=fmt, title=meta.get("title"), meta=meta, hidden_text=hidden)


def load_file(path: Path, max_bytes: int) -> LoadedText:
    """load_bytes on the file's bytes; an unsupported type is refused before anything is read."""
    path = Path(path)
    _reader(path)
    return load_bytes(path, read_source(path, max_bytes))
