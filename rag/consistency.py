"""Claim/evidence consistency: numbers, weekdays and months, and person names across scripts.

Cross-lingual similarity says a claim is *about* what the evidence says, not that its details agree:
"Shoigu met Bagheri on Tuesday" and "Patrushev met Bagheri on Wednesday" embed almost alike. These
checks catch the details a small model swaps. They are shared by the product's verifier (rag.cite)
and the offline judge (evals.judges), so both mean the same thing by "consistent".

Each check only fails on a positive mismatch: a claim detail the evidence contradicts or lacks.
- numbers: every number in the claim must occur in the evidence (digits of any script normalised);
- dates: a weekday (en/fr/de/ar/es/ru) or month named in the claim must be one the evidence names,
  when the evidence names any;
- names: a capitalised name in a Latin-script claim must match a name in the evidence: fuzzily on a
  consonant skeleton (Schoigu ~ Shoigu ~ Choïgou), and for Arabic-script evidence after transliterating
  it to the same skeleton (Shoigu ~ شويغو, Bagheri ~ باقري). Evidence in other scripts is not checked;
- negation (reported apart, not part of `ok`): one side negates and the other does not.

Measured on evals/datasets/judge_pairs.jsonl (evals/README.md): numbers and dates make the offline judge
more accurate; names and negation are heuristics that cost about as many supported claims as they catch
(translated capitalised nouns such as "Council" read as names), so the judge's calibration leaves them out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

# clean.py owns the month names of every language the ingester reads dates in, folded for matching.
from rag.ingest.clean import _MONTH_NUMBER, _strip_marks, normalize_digits
from rag.ingest.language import detect_language

_NUMBER = re.compile(r"\d+(?:[.,\u066b\u066c\u202f ]\d{3})*(?:[.,]\d+)?")


@dataclass
class Consistency:
    """Which checks passed, and the claim details the evidence does not back ("number 42", ...)."""

    numbers_ok: bool
    dates_ok: bool
    names_ok: bool
    missing: list[str] = field(default_factory=list)
    negation_ok: bool = True

    @property
    def ok(self) -> bool:
        """The details agree (negation, a weaker signal, is left to the caller)."""
        return self.numbers_ok and self.dates_ok and self.names_ok


def check(claim: str, evidence_text: str, language: str | None = None) -> Consistency:
    """Run every check of `claim` against `evidence_text` (`language`: the claim's, detected if None)."""
    numbers = sorted(numbers_in(claim) - evidence_numbers(evidence_text))
    dates = _missing_dates(claim, evidence_text)
    names = _missing_names(claim, evidence_text, language)
    negation_ok = negated(claim) == negated(evidence_text)
    missing = [f"number {n}" for n in numbers] + [f"date {d}" for d in dates] + [f"name {n}" for n in names]
    return Consistency(not numbers, not dates, not names, missing + ([] if negation_ok else ["negation agreement"]), negation_ok)


def details_supported(claim: str, evidence_texts: Iterable[str]) -> bool:
    """The checks the answer verifier applies on top of similarity: every number and every weekday or
    month the claim states appears in the evidence. (Names and negation are left out: on the labelled
    judge set they rejected more supported claims than unsupported ones, see evals/README.md.)"""
    texts = list(evidence_texts)
    return numbers_supported(claim, texts) and not _missing_dates(claim, " ".join(texts))


def stated_details(claim: str, language: str | None = None) -> bool:
    """The claim states a number, a weekday or month, or a capitalised name: something checkable."""
    folded = _strip_marks(claim)
    return bool(numbers_in(claim) or _weekdays(folded) or _months(folded) or claim_names(claim, language))


def details_all_in(claim: str, evidence_texts: Iterable[str], language: str | None = None) -> bool:
    """Strict form of `check` for claims that are little more than their details (a terse answer such as
    "94" or "am Dienstag"): every number, name, weekday and month stated is in the evidence, even when the
    evidence names no date at all."""
    evidence = " ".join(evidence_texts)
    return _dates_all_in(_strip_marks(claim), _strip_marks(evidence)) and check(claim, evidence, language).ok


# -- numbers -----------------------------------------------------------------------------------------


def numbers_in(text: str) -> set[str]:
    """Numbers as digit strings (Arabic-Indic digits and thousands separators normalised)."""
    found = set()
    for raw in _NUMBER.findall(normalize_digits(text)):
        digits = re.sub(r"[.,\u066b\u066c\u202f ](?=\d{3}\b)", "", raw).replace(",", ".")
        found.add(digits.rstrip("0").rstrip(".") if "." in digits else digits)
    return found


def numbers_supported(claim: str, evidence_texts: Iterable[str]) -> bool:
    """True when every number the claim states occurs in one of the evidence texts."""
    wanted = numbers_in(claim)
    return not wanted or wanted <= set().union(*(evidence_numbers(t) for t in evidence_texts))


# Number words a source may write where a claim (a model's translation) uses digits: "zwölf Schiffe" backs
# "12 ships". Only simple words (0-20, tens, hundred, thousand, with common Russian and Arabic case forms) in
# the languages the product is used with; compounds ("einundzwanzig", "vingt-et-un") are left out.
_NUMBER_WORDS = {
    "0": "zero zéro null cero ноль", "1": "one un une eins uno una один одна одно", "2": "two deux zwei dos due два две двух",
    "3": "three trois drei tres tre три трёх трех", "4": "four quatre vier cuatro quattro четыре четырёх четырех",
    "5": "five cinq fünf cinco cinque пять пяти", "6": "six sechs seis sei шесть шести", "7": "seven sept sieben siete sette семь семи",
    "8": "eight huit acht ocho otto восемь восьми", "9": "nine neuf neun nueve nove девять девяти",
    "10": "ten dix zehn diez dieci десять десяти", "11": "eleven onze elf once undici одиннадцать одиннадцати",
    "12": "twelve douze zwölf doce dodici двенадцать двенадцати", "13": "thirteen treize dreizehn trece tredici тринадцать",
    "14": "fourteen quatorze vierzehn catorce quattordici четырнадцать", "15": "fifteen quinze fünfzehn quince quindici пятнадцать",
    "16": "sixteen seize sechzehn dieciséis sedici шестнадцать", "17": "seventeen dix-sept siebzehn diecisiete diciassette семнадцать",
    "18": "eighteen dix-huit achtzehn dieciocho diciotto восемнадцать", "19": "nineteen dix-neuf neunzehn diecinueve diciannove девятнадцать",
    "20": "twenty vingt zwanzig veinte venti двадцать двадцати", "30": "thirty trente dreißig treinta trenta тридцать",
    "40": "forty quarante vierzig cuarenta quaranta сорок", "50": "fifty cinquante fünfzig cincuenta cinquanta пятьдесят",
    "60": "sixty soixante sechzig sesenta sessanta шестьдесят", "70": "seventy siebzig setenta settanta семьдесят",
    "80": "eighty achtzig ochenta ottanta восемьдесят", "90": "ninety neunzig noventa novanta девяносто",
    "100": "hundred cent hundert cien ciento cento сто", "1000": "thousand mille tausend mil тысяча тысячи тысяч",
}
_ARABIC_NUMBER_WORDS = {  # with and without ة, as counted nouns take either
    "2": "اثنان اثنين اثنتان اثنتين", "3": "ثلاث ثلاثة", "4": "أربع أربعة", "5": "خمس خمسة", "6": "ست ستة", "7": "سبع سبعة",
    "8": "ثماني ثمانية ثمان", "9": "تسع تسعة", "10": "عشر عشرة", "20": "عشرون عشرين", "30": "ثلاثون ثلاثين",
    "40": "أربعون أربعين", "50": "خمسون خمسين", "100": "مائة مئة", "1000": "ألف آلاف",
}


@cache
def _number_word_patterns() -> list[tuple[re.Pattern, str]]:
    latin_cyrillic = [(re.compile(rf"(?<![\w-]){re.escape(_strip_marks(word))}(?![\w-])"), value)
                      for value, words in _NUMBER_WORDS.items() for word in words.split()]
    arabic = [(re.compile(rf"(?<![{_ARABIC_LETTERS}]){_ARABIC_CLITIC}{_strip_marks(word)}(?![{_ARABIC_LETTERS}])"), value)
              for value, words in _ARABIC_NUMBER_WORDS.items() for word in words.split()]
    return latin_cyrillic + arabic


def spelled_numbers(text: str) -> set[str]:
    """Numbers the text writes as words (see _NUMBER_WORDS), as digit strings."""
    folded = _strip_marks(text)
    return {value for pattern, value in _number_word_patterns() if pattern.search(folded)}


@lru_cache(maxsize=4096)
def evidence_numbers(text: str) -> frozenset[str]:
    """What an evidence text states as a number, in digits or in words (cached: verification checks each
    evidence sentence against every claim citing it)."""
    return frozenset(numbers_in(text) | spelled_numbers(text))


# -- negation ----------------------------------------------------------------------------------------

_NEGATION = re.compile(
    r"(?<!\w)(?:not|never|no|none|neither|nor|cannot|ne|pas|jamais|aucune?|nicht|kein\w*|nie|niemals|weder|"
    r"nunca|jamás|ningun[oa]?|tampoco|non|mai|nessun[oa]?|не|нет|никогда|لا(?!\s*سيما)|لم|لن|ليس|ليست|عدم)(?!\w)"  # لا سيما: "especially"
    r"|(?<!\w)n['’]|n['’]t(?!\w)",
    re.IGNORECASE,
)


def negated(text: str) -> bool:
    """Whether the text contains a negation word (en, fr, de, es, it, ru, ar): a claim that negates what
    its evidence affirms (or the reverse) embeds almost like it."""
    return bool(_NEGATION.search(text))


# -- weekdays and months -----------------------------------------------------------------------------

_WEEKDAYS = {  # Latin and Cyrillic names match as word prefixes (Mittwochabend, в пятницу)
    1: ("monday", "lundi", "montag", "lunes", "понедельник", "يوم الاثنين"),  # bare الاثنين also means "the two"
    2: ("tuesday", "mardi", "dienstag", "martes", "вторник", "الثلاثاء"),
    3: ("wednesday", "mercredi", "mittwoch", "miércoles", "сред", "الأربعاء"),
    4: ("thursday", "jeudi", "donnerstag", "jueves", "четверг", "الخميس"),
    5: ("friday", "vendredi", "freitag", "viernes", "пятниц", "الجمعة"),
    6: ("saturday", "samedi", "samstag", "sonnabend", "sábado", "суббот", "السبت"),
    7: ("sunday", "dimanche", "sonntag", "domingo", "воскресен", "الأحد"),
}
_ARABIC_LETTERS = "\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff"
_ARABIC_CLITIC = "(?:[\u0648\u0641\u0628])?"  # و ف ب glued to the next word


def _name_pattern(folded: str) -> str:
    if re.search(f"[{_ARABIC_LETTERS}]", folded):
        return _ARABIC_CLITIC + re.escape(folded).replace(r"\ ", r"\s+") + f"(?![{_ARABIC_LETTERS}])"
    return re.escape(folded) + r"\w*"


_WEEKDAY_RE = [
    (day, re.compile(r"(?<!\w)(?:" + "|".join(_name_pattern(_strip_marks(n)) for n in names) + ")"))
    for day, names in _WEEKDAYS.items()
]
# Short or ambiguous month names (May, "mar", "set", "sept" = seven in French, Levantine آب = father)
# count only next to a number, as in "3 May" or "May 2023".
_MONTH_RE = re.compile(
    r"(?<!\w)" + _ARABIC_CLITIC + "(" + "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(_MONTH_NUMBER, key=len, reverse=True)) + r")(?!\w)"
)
_NEEDS_NUMBER = {name for name in _MONTH_NUMBER if len(name.replace(" ", "")) < 4} | {"sept"}


def _weekdays(folded: str) -> set[int]:
    return {day for day, pattern in _WEEKDAY_RE if pattern.search(folded)}


def _months(folded: str) -> set[int]:
    found = set()
    for match in _MONTH_RE.finditer(folded):
        name = re.sub(r"\s+", " ", match.group(1))
        around = folded[max(0, match.start() - 6) : match.start()] + folded[match.end() : match.end() + 7]
        if name not in _NEEDS_NUMBER or re.search(r"\d", around):
            found.add(_MONTH_NUMBER[name])
    return found


def _dates_all_in(folded_claim: str, folded_evidence: str) -> bool:
    """Every weekday and month the claim names is one the evidence names (strict: also when it names none)."""
    return all(extract(folded_claim) <= extract(folded_evidence) for extract in (_weekdays, _months))


def _missing_dates(claim: str, evidence: str) -> list[str]:
    folded_claim, folded_evidence = _strip_marks(claim), _strip_marks(evidence)
    missing = []
    for kind, extract in (("weekday", _weekdays), ("month", _months)):
        stated, available = extract(folded_claim), extract(folded_evidence)
        if available:
            missing += [f"{kind} {n}" for n in sorted(stated - available)]
    return missing


# -- what a question asks for ------------------------------------------------------------------------

# A question that asks for a number, or for the day something happened, is answered only by a sentence that
# states one. Without that detail in its evidence, a small model writes a true sentence around the question
# instead ("Welchen Wert hatte der Vertrag?" -> "Schoigu unterzeichnete den Vertrag ..."), which similarity
# alone accepts. Phrases in en, fr, de, es, it, pt, ru, ar; "when" is left out (an event answers it too).
_ASKS = {
    "number": (
        "how many", "how much", "how old", "what percentage", "what proportion", "what year", "which year",
        "what years", "which years", "combien", "quel age", "quelle annee", "wie viel", "wie viele", "wie hoch",
        "wie alt", "welchen wert", "welchen betrag", "welchem jahr", "cuanto", "cuanta", "cuantos", "cuantas",
        "que edad", "que ano", "quanti", "quante", "quanto", "quanta", "quantos", "quantas", "quale anno",
        "сколько", "в каком году", "كم", "ما عدد", "ما هو عدد", "ما قيمة", "ما هي قيمة", "ما مقدار", "ما حجم",
        "في أي عام", "في أي سنة",
    ),
    "day": (
        "what day", "which day", "quel jour", "welchem tag", "welchem wochentag", "welcher wochentag",
        "que dia", "quale giorno", "какой день", "в какой день", "أي يوم",
    ),
}
_ASKS_RE = {
    kind: re.compile(r"(?<!\w)(?:" + "|".join(re.escape(_strip_marks(p)).replace(r"\ ", r"\s+") for p in phrases) + r")(?!\w)")
    for kind, phrases in _ASKS.items()
}
_ROUGH_QUANTITY = re.compile(  # "dozens of", "des centaines", "Hunderte", "عشرات": a number without digits
    r"(?<!\w)(?:dozens|hundreds|thousands|millions?|billions?|dizaines|centaines|milliers|milliards?|dutzende|"
    r"hunderte|tausende|millionen|milliarden?|decenas|cientos|centenares|miles\s+de|millones|decine|centinaia|migliaia|"
    r"milioni|miliardi|десятк\w*|сотн\w*|сотен|тысяч\w*|миллион\w*|миллиард\w*|"
    + "|".join(_ARABIC_CLITIC + _strip_marks(w) for w in ("عشرات", "مئات", "آلاف", "ملايين", "مليون", "مليار")) + r")(?!\w)"
)
_NOT_ASKING = re.compile(r"(?<!\w)in\s+quant[oa]$")  # Italian "in quanto ministro": "as minister"


def asked_detail(question: str) -> str | None:
    """"number" or "day" when the question asks for one ("Combien de ...", "An welchem Tag ..."), else None."""
    folded = _strip_marks(question)
    for kind, pattern in _ASKS_RE.items():
        if any(not _NOT_ASKING.search(folded[: m.end()]) for m in pattern.finditer(folded)):
            return kind
    return None


def gives_detail(asked: str, claim: str, evidence_texts: Iterable[str]) -> bool:
    """Does the claim state the kind of detail asked for? A number in digits, words or a rough quantity
    (the verifier has already checked its digits against the evidence); a weekday or month, every one of
    which its evidence names."""
    folded = _strip_marks(claim)
    if asked == "number":
        return bool(numbers_in(claim) or spelled_numbers(claim) or _ROUGH_QUANTITY.search(folded))
    states_a_day = bool(_weekdays(folded) or _months(folded))
    return states_a_day and _dates_all_in(folded, _strip_marks(" ".join(evidence_texts)))


# -- names across scripts ----------------------------------------------------------------------------

_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_ARABIC_WORD = re.compile(f"[{_ARABIC_LETTERS}]+")
_RUN_GAP = re.compile(r"[ \u00a0-]+")  # what may separate the words of one name ("Ali Akbar Ahmadian")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"«»“”„()\[\]]\s*)$")
# Words that open sentences capitalised without being names (en, fr, de, es); any other opening word
# may be a name ("Shoigu met ..."). Words of two letters or fewer are never taken for names.
_OPENERS = frozenset("""
the and but for from with after before during while when since until according however also this that these
those there here she they his her its their our both all some many most several other another one two three
four five six seven eight nine ten first last then today yesterday tomorrow earlier later meanwhile not only
although though because despite about into over under between against among
les une des aux elle ils elles nous vous cet cette ces selon après avant pendant lors dans par pour sur sous
avec mais donc puis ainsi aussi cependant toutefois deux trois hier demain leur leurs son ses
der die das den dem des ein eine einen einem einer eines sie wir ihr laut nach vor beim zum zur bei mit und
aber auch oder doch dabei dort hier dies diese dieser dieses zwei drei gestern heute morgen seit während wegen
trotz damit nun zudem außerdem zuvor später auf aus von für über unter
los las unos unas del con por para según tras antes después durante pero también sin este esta estos estas
ese esa dos tres ayer hoy
""".split())
# Latin spelling variants -> one consonant class; vowels, h, w and y carry no signal across scripts.
_LATIN_DIGRAPHS = (
    ("sch", "s"), ("tch", "s"), ("dj", "j"), ("sh", "s"), ("ch", "s"), ("zh", "s"), ("kh", "k"),
    ("gh", "k"), ("ph", "f"), ("th", "t"), ("dh", "d"), ("ck", "k"), ("qu", "k"), ("x", "ks"),
)
_LATIN_CLASSES = str.maketrans({"c": "k", "g": "k", "q": "k", "z": "s", "v": "f", "p": "b", **dict.fromkeys("aeiouywh", None)})
# Arabic (and Persian) letters -> the same classes: ش sh, غ gh and ق q/k/g all fall where Latin puts them.
_ARABIC_CLASSES = str.maketrans({
    **dict.fromkeys("بپ", "b"), **dict.fromkeys("تطث", "t"), **dict.fromkeys("دضذ", "d"), **dict.fromkeys("فڤ", "f"),
    **dict.fromkeys("كکقغخگ", "k"), **dict.fromkeys("سصشزظژچ", "s"), "ج": "j", "ل": "l", "م": "m", "ن": "n", "ر": "r",
    **dict.fromkeys("اأإآٱءئؤوىيیةهحع", None),
})
_ARABIC_PREFIXES = re.compile("^(?:[\u0648\u0641\u0628\u0644]?\u0627\u0644|[\u0648\u0641\u0628\u0644])")  # (و|ف|ب|ل)?ال, و...


def _squeeze(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text)


def latin_skeleton(word: str) -> str:
    """Consonant skeleton of a Latin-script word: Schoigu, Shoigu, Choïgou -> "sk"."""
    text = "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))
    for digraph, single in _LATIN_DIGRAPHS:
        text = text.replace(digraph, single)
    return _squeeze(re.sub(r"c(?=[eiy])", "s", text).translate(_LATIN_CLASSES))


def arabic_skeleton(word: str) -> str:
    """Consonant skeleton of an Arabic-script word by transliteration: شويغو -> "sk", باقري -> "bkr"."""
    return _squeeze(re.sub(r"[\u064b-\u0652\u0670\u0640]", "", word).translate(_ARABIC_CLASSES))


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def skeletons_match(a: str, b: str) -> bool:
    """Same name? Skeletons lose vowels, so long ones may differ by an edit or two, or by an ending
    (Iran/Iranian, روسي/Russian), short ones must be exact."""
    short, long = sorted((a, b), key=len)
    if len(short) < 2:
        return short == long
    if long.startswith(short) and len(long) - len(short) <= 2:
        return True
    allowed = 0 if len(short) < 3 else 1 if len(short) < 7 else 2
    if len(short) == 3 and a[:2] != b[:2]:
        allowed = 0  # three consonants: one may differ only after the root (Iranian ~ iranischen)
    return _edit_distance(a, b) <= allowed


def claim_names(claim: str, language: str | None = None) -> list[str]:
    """Capitalised names a Latin-script claim states: the last word of each run of capitalised words
    ("Ali Akbar Ahmadian" -> Ahmadian), a sentence's first word only if it is not a common opener.
    German capitalises every noun, so there only runs of two or more words count ("Sergej Schoigu")."""
    min_run = 2 if (language or detect_language(claim)) == "de" else 1
    names, run = [], []
    for match in _LATIN_WORD.finditer(claim):
        word = match.group()
        opens = bool(_SENTENCE_START.search(claim[: match.start()]))
        name_like = word[0].isupper() and not word.isupper() and len(word) > 2 and not (opens and word.casefold() in _OPENERS)
        joined = run and _RUN_GAP.fullmatch(claim[run[-1].end() : match.start()])
        if not (name_like and joined):
            if len(run) >= min_run:
                names.append(run[-1].group())
            run = []
        if name_like:
            run.append(match)
    if len(run) >= min_run:
        names.append(run[-1].group())
    return [n for n in dict.fromkeys(names) if not (_weekdays(_strip_marks(n)) or _months(_strip_marks(n)))]


def evidence_skeletons(evidence: str) -> set[str]:
    """Skeletons of every word of the evidence that may hold a name or its adjective (iranischen, روسي):
    Latin words, and Arabic ones with and without their clitics, alone and joined to the next (عبد اللهيان)."""
    found = {latin_skeleton(w) for w in _LATIN_WORD.findall(evidence)}
    words = [w for w in _ARABIC_WORD.findall(evidence) if len(w) > 2]  # من، في، عن match too much
    found |= {arabic_skeleton(w) for w in words} | {arabic_skeleton(a + b) for a, b in zip(words, words[1:])}
    found |= {arabic_skeleton(_ARABIC_PREFIXES.sub("", w)) for w in words}  # باقري keeps its ب: try both
    return found - {""}


def _missing_names(claim: str, evidence: str, language: str | None) -> list[str]:
    if not (_LATIN_WORD.search(evidence) or _ARABIC_WORD.search(evidence)):
        return []  # evidence in a script we cannot transliterate: no opinion
    names = claim_names(claim, language)
    if not names:
        return []
    available = evidence_skeletons(evidence)
    folded = _strip_marks(evidence)
    missing = []
    for name in names:
        skeleton = latin_skeleton(name)
        if len(skeleton) < 2 or _strip_marks(name) in folded:
            continue
        if not any(skeletons_match(skeleton, other) for other in available):
            missing.append(name)
    return missing
