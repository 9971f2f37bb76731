"""Remove web and newspaper debris from article text while keeping every article sentence verbatim.

The rules work line by line and are deliberately conservative: a line that reads like prose (more than
12 words, or ending in sentence punctuation) is only ever dropped when it is, as a whole, a known
boilerplate phrase ("Please enter your comment!") or an exact repeat of the line before it. Kept lines
are never edited apart from trailing spaces, so citations can quote them exactly.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# Zero of each decimal digit block that news text uses besides ASCII: Arabic-Indic, Extended
# Arabic-Indic (Persian/Urdu), Devanagari, Bengali, fullwidth.
_DIGIT_ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6, 0xFF10)
_DIGITS = {zero + i: str(i) for zero in _DIGIT_ZEROS for i in range(10)}
_ARABIC_LETTER_VARIANTS = str.maketrans({"ی": "ي", "ى": "ي", "ک": "ك", "ة": "ه", "ـ": None})

_SENTENCE_END = tuple('.!?…؟۔。！？»«"“”\')')
_PROSE_WORDS = 12  # a line longer than this is article text, whatever it contains
_EDGE_LINES = 5  # page headers/footers only occur this close to the start or end
_HEADER_MAX_WORDS = 20  # masthead lines ("paper - issue N - date - page N") run long

# Whole lines that are boilerplate in any position (compared after _fold, so case, accents, hamza
# and surrounding punctuation such as "- Advertisement -" do not matter).
_BOILERPLATE = (
    # en
    "ad", "ads", "advertisement", "sponsored", "sponsored content", "related", "related articles",
    "related posts", "related stories", "read more", "read also", "see also", "more stories",
    "latest news", "latest articles", "recent posts", "most read", "most popular", "trending",
    "leave a reply", "leave a comment", "please enter your comment", "please enter your name here",
    "you have entered an incorrect email address please enter it here", "comments", "share",
    "share this", "share this article", "tweet", "print", "email", "subscribe", "subscribe now",
    "sign up", "newsletter", "cookies", "accept cookies", "cookie settings", "privacy policy",
    "terms of use", "all rights reserved", "skip to content", "skip to main content", "menu",
    "main menu", "navigation", "search", "archive", "archives", "home", "tags", "topics",
    "back to top", "follow us", "loading",
    # fr
    "pub", "publicité", "annonce", "articles liés", "articles similaires", "à lire aussi",
    "lire aussi", "lire la suite", "voir aussi", "sur le même sujet", "derniers articles",
    "dernières nouvelles", "les plus lus", "partager", "imprimer", "commentaires",
    "laisser un commentaire", "abonnez-vous", "s'abonner", "recherche", "rechercher", "accueil",
    "suivez-nous", "tous droits réservés", "politique de confidentialité", "mentions légales",
    # de
    "anzeige", "werbung", "ähnliche artikel", "verwandte artikel", "das könnte sie auch interessieren",
    "mehr zum thema", "mehr lesen", "weiterlesen", "lesen sie auch", "auch interessant", "meistgelesen",
    "neueste artikel", "teilen", "drucken", "kommentare", "kommentar schreiben", "abonnieren",
    "newsletter abonnieren", "suche", "archiv", "startseite", "menü", "datenschutz", "impressum",
    "alle rechte vorbehalten", "folgen sie uns",
    # es
    "publicidad", "anuncio", "artículos relacionados", "noticias relacionadas", "lee también",
    "leer más", "ver también", "lo más leído", "últimas noticias", "compartir", "imprimir",
    "comentarios", "deja un comentario", "suscríbete", "buscar", "búsqueda", "archivo", "inicio",
    "menú", "síguenos", "todos los derechos reservados",
    # ru
    "реклама", "читайте также", "читать далее", "похожие статьи", "по теме", "поделиться",
    "комментарии", "подписаться", "поиск", "архив", "главная", "меню", "последние новости",
    # ar
    "إعلان", "إعلانات", "مقالات ذات صلة", "أخبار ذات صلة", "اقرأ أيضا", "اقرأ المزيد", "شارك",
    "مشاركة", "طباعة", "التعليقات", "أضف تعليقا", "اشترك", "النشرة البريدية", "البحث", "بحث",
    "الأرشيف", "الأرشيف التاريخي", "الرئيسية", "الصفحة الرئيسية", "القائمة", "الصفحات",
    "الأكثر قراءة", "آخر الأخبار", "تابعونا", "جميع الحقوق محفوظة",
    # fa
    "تبلیغات", "آگهی", "مطالب مرتبط", "اخبار مرتبط", "بیشتر بخوانید", "همچنین بخوانید",
    "اشتراک گذاری", "چاپ", "نظرات", "جستجو", "آرشیو", "صفحه اصلی", "منو", "پربازدیدترین", "آخرین اخبار",
)

# Openings of short teaser/share/subscribe lines ("Lire aussi : <other headline>").
_BOILERPLATE_PREFIXES = (
    "read more", "read also", "see also", "related", "share on", "follow us on", "subscribe to",
    "sign up for", "lire aussi", "à lire aussi", "voir aussi", "partager sur", "suivez-nous sur",
    "abonnez-vous", "inscrivez-vous", "lesen sie auch", "mehr zum thema", "teilen auf",
    "lee también", "ver también", "leer más", "síguenos en", "читайте также", "اقرأ أيضا",
    "اقرأ المزيد", "بیشتر بخوانید", "همچنین بخوانید",
)

_HEADER_MARKER = re.compile(
    r"\b(?:العدد|الصفحه|صفحه|شماره|seite|ausgabe|jahrgang|page|issue|edition|numero|pagina|edicion"
    r"|выпуск|номер|страница)\b"
)
_BULLET = re.compile(r"^\s*[•·▪◦‣●○■□►▸–—*+-]\s+(?P<item>\S.*)$")
_SLUG = re.compile(r"^(?=[a-z0-9-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)+$")
_WORD = re.compile(r"\w+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_digits(text: str) -> str:
    """Arabic-Indic, Persian and other non-ASCII decimal digits -> ASCII, one character for one."""
    return text.translate(_DIGITS)


def _strip_marks(text: str) -> str:
    """Lower-case, accent-free, ASCII-digit form used only for matching, never for output."""
    text = unicodedata.normalize("NFKD", normalize_digits(text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_ARABIC_LETTER_VARIANTS)


def _fold(text: str) -> str:
    """Comparison key: _strip_marks plus punctuation and spacing ignored."""
    return " ".join(_WORD.findall(_strip_marks(text)))


_BOILERPLATE_KEYS = frozenset(_fold(p) for p in _BOILERPLATE)
_BOILERPLATE_PREFIX_KEYS = tuple(_fold(p) + " " for p in _BOILERPLATE_PREFIXES)


def _is_prose(line: str) -> bool:
    """Long or sentence-final lines are article text and are protected from the heuristics."""
    stripped = line.strip()
    return len(stripped.split()) > _PROSE_WORDS or stripped.endswith(_SENTENCE_END)


def _is_short_item(text: str) -> bool:
    """A menu entry: a few words, no digits (lists of facts usually have numbers), not a sentence."""
    return len(text.split()) <= 5 and len(text) <= 40 and not re.search(r"\d", text) and not _is_prose(text)


def _menu_lines(lines: list[str]) -> set[int]:
    """Indices of runs of >= 3 short bullet lines, plus a short label line directly above a run."""
    found: set[int] = set()
    run: list[int] = []
    for i, line in enumerate(lines + [""]):
        match = _BULLET.match(line)
        if match and _is_short_item(match["item"]):
            run.append(i)
            continue
        if len(run) >= 3:
            found.update(run)
            label = run[0] - 1
            if label >= 0 and lines[label].strip() and len(lines[label].split()) <= 3 and not _is_prose(lines[label]):
                found.add(label)
        run = []
    return found


def _is_boilerplate(line: str, key: str) -> bool:
    """Known boilerplate phrase, teaser prefix, tag slug or punctuation-only line."""
    if not key or key in _BOILERPLATE_KEYS:
        return True
    if _is_prose(line):
        return False
    return key.startswith(_BOILERPLATE_PREFIX_KEYS) or bool(_SLUG.match(line.strip()))


def _drop_debris(lines: list[str]) -> list[str]:
    """First pass: boilerplate, menus and repeated lines, anywhere in the text."""
    menu = _menu_lines(lines)
    kept: list[str] = []
    previous_key = ""
    for i, line in enumerate(lines):
        if not line.strip():
            kept.append(line)
            continue
        key = _fold(line)
        repeated = key == previous_key and len(key.split()) >= 2  # a lone "Non." may be said twice
        if i in menu or repeated or _is_boilerplate(line, key):
            continue
        kept.append(line)
        previous_key = key
    return kept


def _is_page_header(line: str) -> bool:
    """Masthead/footer line: an issue or page marker together with a number or date."""
    key = _fold(line)
    return (
        not line.strip().endswith(_SENTENCE_END)
        and len(key.split()) <= _HEADER_MAX_WORDS
        and bool(_HEADER_MARKER.search(key))
        and bool(re.search(r"\d", key))
    )


def _drop_page_headers(lines: list[str]) -> list[str]:
    """Second pass: page headers, looked for only among the first and last few non-empty lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    edges = set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:])
    return [line for i, line in enumerate(lines) if not (i in edges and _is_page_header(line))]


# A line that opens or closes a chat turn in one of the common templates (ChatML <|im_start|>, Llama [INST]
# and <<SYS>>, Gemma <start_of_turn>, Alpaca-style "### Assistant:" headers). News never contains them.
_TURN_MARKER = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>"
    r"|^\W{0,6}#{1,6}\s*(?:system|user|assistant|human|instruction|response)\s*:",
    re.IGNORECASE,
)


def _drop_fake_turns(lines: list[str]) -> list[str]:
    """A fake conversation planted in an article (prompt injection): its turn markers and the lines of each
    turn, up to the next blank line or marker. Sentence filters cannot see that an innocent-looking line is
    the attacker's pre-written "assistant" answer; its place after a marker shows it."""
    kept: list[str] = []
    in_turn = False
    for line in lines:
        if _TURN_MARKER.search(line):
            in_turn = True
        elif not line.strip():
            in_turn = False
            kept.append(line)
        elif not in_turn:
            kept.append(line)
    return kept


def clean_text(text: str) -> str:
    """Article text without web/newspaper debris or planted chat turns; paragraphs (blank lines) are preserved."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    lines = _drop_page_headers(_drop_debris(_drop_fake_turns(lines)))
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def guess_title(text: str) -> str:
    """The first line when it is short enough to be a headline, otherwise the opening words."""
    stripped = text.strip()
    first = stripped.split("\n", 1)[0].strip()
    if len(first) < 200:
        return first
    cut = stripped[:80]
    if " " in cut[40:]:  # end on a word boundary when the script uses spaces
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip() + "…"


_MONTHS = {
    1: "january jan janvier janv januar jänner enero ene января январь يناير جانفي كانون الثاني ژانویه",
    2: "february feb février févr februar febrero февраля февраль فبراير فيفري شباط فوریه",
    3: "march mar mars märz marzo марта март مارس آذار",
    4: "april apr avril avr abril abr апреля апрель أبريل إبريل ابريل أفريل نيسان آوریل",
    5: "may mai mayo мая май مايو ماي أيار مه",
    6: "june jun juin juni junio июня июнь يونيو يونيه جوان حزيران ژوئن",
    7: "july jul juillet juil juli julio июля июль يوليو يوليه جويلية تموز ژوئیه جولای",
    8: "august aug août aout agosto ago августа август أغسطس اغسطس أوت آب اوت آگوست",
    9: "september sep sept septembre septiembre setiembre set сентября сентябрь سبتمبر أيلول سپتامبر",
    10: "october oct octobre oktober okt octubre октября октябрь أكتوبر اكتوبر تشرين الأول اکتبر",
    11: "november nov novembre noviembre ноября ноябрь نوفمبر تشرين الثاني نوامبر",
    12: "december dec décembre déc dezember dez diciembre dic декабря декабрь ديسمبر كانون الأول دسامبر",
}
# Two-word Levantine names must stay together when the lists above are split into names.
_TWO_WORD_MONTHS = ("كانون الثاني", "كانون الأول", "تشرين الأول", "تشرين الثاني")


def _month_names() -> dict[str, int]:
    """Folded month name -> month number, so matching ignores case, accents and hamza forms."""
    names: dict[str, int] = {}
    for month, spelled in _MONTHS.items():
        for pair in _TWO_WORD_MONTHS:
            if pair in spelled:
                names[_strip_marks(pair)] = month
                spelled = spelled.replace(pair, "")
        names.update((_strip_marks(name), month) for name in spelled.split())
    return names


_MONTH_NUMBER = _month_names()
_MONTH = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(_MONTH_NUMBER, key=len, reverse=True))
_DATE_PATTERNS = (  # (regex, order of the day/month/year groups)
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), "ymd"),
    (re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\d)"), "dmy"),
    (
        re.compile(
            rf"(?<!\d)(\d{{1,2}})(?:er|st|nd|rd|th|\.)?\s+(?:de\s+)?({_MONTH})\.?(?!\w)"
            rf"(?:\s*[/(]\s*(?:{_MONTH})\s*\)?)?\s*,?\s+(?:de\s+)?(\d{{4}})(?!\d)"
        ),
        "dmy",
    ),
    (re.compile(rf"(?<!\w)({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)"), "mdy"),
)


def _to_iso(groups: tuple[str, ...], order: str) -> str | None:
    """yyyy-mm-dd if the parts make a real date in a plausible news era, else None."""
    parts = dict(zip(order, groups))
    month = parts["m"]
    month_number = int(month) if month.isdigit() else _MONTH_NUMBER.get(re.sub(r"\s+", " ", month))
    try:
        found = date(int(parts["y"]), month_number or 0, int(parts["d"]))
    except ValueError:
        return None
    return found.isoformat() if 1900 <= found.year <= 2100 else None


def find_date(text: str) -> str | None:
    """Earliest credible calendar date in the first ~600 characters, as yyyy-mm-dd, or None."""
    head = _strip_marks(text[:600])
    found: list[tuple[int, str]] = []
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(head):
            iso = _to_iso(match.groups(), order)
            if iso:
                found.append((match.start(), iso))
                break
    return min(found)[1] if found else None
