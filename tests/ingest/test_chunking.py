"""Sentence splitting and chunking on real seed paragraphs (embedded verbatim) and synthetic edge cases."""

from __future__ import annotations

import random

import pytest

from rag.documents import Chunk, Document
from rag.ingest.chunking import chunk_document, short_units, split_sentences
from rag.tokens import count_tokens

FRENCH = """La discussion des responsables s’est concentrée sur “la sécurité de l’information et la sécurité économique face aux pressions des sanctions des pays occidentaux”, a indiqué l’agence, tandis que Patrushev s’est vanté que les relations entre les pays “ont atteint un nouveau niveau”.

Ahmadian a profité des discussions de mercredi pour fustiger l’Occident à propos de la guerre menée par Israël contre le Hamas, déclarant à son homologue russe : « La grandeur de l’Amérique a été brisée, et aujourd’hui elle ne peut même pas unir ses alliés traditionnels autour d’elle », selon les médias d’État iraniens.

« Un pays qui se considère comme une superpuissance mène une guerre contre les groupes de résistance et les populations de la région », a-t-il ajouté.

La guerre à Gaza se poursuit alors qu’Israël combat le Hamas après que le groupe a attaqué le sud d’Israël le 7 octobre. Alors qu’Israël lançait des attaques contre le Liban et ses frontières, des groupes alignés sur l’Iran ont ciblé les intérêts américains et internationaux dans la région, faisant craindre qu’une attaque contre le Liban et ses frontières ne se transforme en un conflit régional plus vaste.

L’attentat à la bombe du 3 janvier contre une cérémonie marquant l’assassinat par les États-Unis de l’ancien commandant de la Force Qods Qasem Soleimani dans la ville iranienne de Kerman a tué au moins 94 personnes, revendiqué par le groupe extrémiste musulman sunnite État islamique."""

ARABIC_HEADER = """العدد سبعة آلاف وثلاثمائة وخمسة وثلاثون - ٢١ سبتمبر ٢٠٢٣
صحیفة ایران الدولیة الوفاق - العدد سبعة آلاف وثلاثمائة وخمسة وثلاثون - ٢١ سبتمبر ٢٠٢٣ - الصفحة ۲"""

ARABIC_QUOTES = """في السياق قال وزير الدفاع الروسي، سيرغي شويغو، خلال مؤتمر صحفي عقده في طهران، مساء أمس الأول، أنه ناقش مع رئيس هيئة الأركان الإيرانية، اللواء محمد باقري، "الوضع في إقليم ناغورني قره باغ". وأكد أن "العلاقات بين روسيا وإيران تتطور بصورة ديناميكية في مجال الدفاع"، مضيفاً أن "الاجتماعات ازدادت كثافتها في مختلف المستويات"."""

ARABIC = """من جانبه أعلن وزير الدفاع الروسي سيرغي شويغو، أمس الأربعاء، أنّ العقوبات على روسيا وإيران أثبتت عدم جدواها، معقباً أنّ التعاون مع إيران وصل إلى مستوى جديد. وقال شويغو: "نهدف إلى تنفيذ مجموعة كاملة من الأنشطة المُخطط لها، على الرغم من معارضة الولايات المتحدة وحلفائها الغربيين". وأكّد شويغو خلال الاجتماع استعداد بلاده لمزيدٍ من العمل المشترك في مجال تعزيز الاستقرار والأمن في الشرق الأوسط، مشيراً إلى أنّ الحوار الروسي الإيراني يتطوّر بشكلٍ مُكثّف وخاص. وقيّم وزير الدفاع الروسي الفريق سيرغي شويغو، في اللقاء، العلاقات بين البلدين، بانها في مستوى عالٍ واستراتيجي. كما التقى وزیر الدفاع الروسي صباح الاربعاء أمين المجلس الاعلى للأمن القومي الايراني «علي أكبر أحمديان»، وتباحث معه سبل تعزيز التعاون بين ايران وروسيا ومواجهة التهديدات المشتركة. واعتبر الجانبان في هذا اللقاء تدخل الدول الأجنبية في شؤون المنطقة، بأنه أكبر عامل في زعزعة الامن والاستقرار في هذه المنطقة الاستراتيجية. وزار شويغو صباح الاربعاء أيضاً، الواحة الوطنية لقوات الجوفضاء للحرس الثوري واطلع عن كثب على مختلف انواع الاسلحة المعروضة فيها. وقد تفقد شويغو مختلف انواع الطائرات المسيرة والصواريخ ومنظومات الدفاع الجوي والانجازات المهمة الاخرى لقوات الجوفضاء للحرس الثوري، برفقة العميد امير علي حاجي زادة قائد قوات الجوفضاء في الحرس الثوري."""

GERMAN = """Der russische Verteidigungsminister Sergej Schoigu hat bei seinem offiziellen Besuch im Iran die Vertiefung der Zusammenarbeit zwischen Moskau und Teheran begrüßt. Der russische Beamte versprach am Mittwoch, dass die beiden Länder weiterhin zusammenarbeiten würden, um die Stabilität im Nahen Osten zu gewährleisten, unabhängig vom Druck des Westens. Während eines Treffens in Teheran mit seinem iranischen Amtskollegen Mohammad Reza Ashtiani erklärte Shoigu, dass die Zusammenarbeit zwischen den beiden Nationen „erreicht ein völlig neues Niveau“ und dieser Dialog „entwickelt sich heute besonders aktiv.“ Er fügte hinzu, dass Moskau und Teheran entschlossen seien, „trotz der Gegenmaßnahmen der USA und ihrer westlichen Verbündeten“ weiterhin gemeinsam zusammenzuarbeiten, wie das russische Verteidigungsministerium zitierte . Laut Shoigu erweist sich der Sanktionsdruck sowohl auf Moskau als auch auf Teheran als vergeblich. Der russische Verteidigungsminister führte die Vertiefung der bilateralen Beziehungen auf das gute Verhältnis zwischen dem russischen Präsidenten Wladimir Putin und seinem iranischen Amtskollegen Ebrahim Raisi zurück. Am Dienstag traf Shoigu mit dem Generalstabschef der iranischen Streitkräfte, Mohammad Bagheri, zusammen. Das Paar besprach die Lage in Syrien und Afghanistan sowie den jüngsten Ausbruch der Feindseligkeiten zwischen Aserbaidschan und Armenien um die abtrünnige Region Berg-Karabach. Ganz oben auf ihrer Tagesordnung stand auch der Austausch militärischer Erfahrungen und Pläne zur Durchführung gemeinsamer Marineübungen. Shoigu, der am selben Tag im Iran eingetroffen war, beschrieb seinen Gastgeber als „Russlands strategischen Partner im Nahen Osten“. Anfang dieses Monats wurde die Der Chef des israelischen Geheimdienstes Mossad, David Barnea, schlug Alarm wegen Vorschlägen, dass Russland den Iran mit „fortschrittlichen Waffen versorgen könnte, die sicherlich unseren Frieden und vielleicht sogar unsere Existenz hier gefährden werden“. Er behauptete, Teheran habe Moskau mit Kamikaze-Drohnen beliefert Einsatz im Konflikt mit der Ukraine, mit der Behauptung, Russland könne sich nun revanchieren. Moskau hat Behauptungen, es habe auf iranische Waffen zurückgegriffen, konsequent zurückgewiesen und darauf bestanden, dass sein Militär im Inland hergestellte UAVs verwende. Dies sagte der iranische Außenminister Hossein Amir-Abdollahian im November 2022 dass Teheran eine „begrenzte Anzahl“ Drohnen an Russland geliefert habe, aber Monate bevor Moskau seine Militäroperation in der Ukraine gestartet habe."""

SEEDS = {"fr": FRENCH, "ar": "\n".join([ARABIC_HEADER, "", ARABIC_QUOTES, ARABIC]), "de": GERMAN}


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def doc(text: str, language: str = "fr") -> Document:
    return Document(doc_id="d", path="/x", text=text, title="t", language=language)


def assert_spans_valid(text: str, spans: list[tuple[int, int]]) -> None:
    """Trimmed, in order, non-overlapping, and nothing but whitespace left between them."""
    cursor = 0
    for start, end in spans:
        assert cursor <= start < end
        assert text[start:end] == text[start:end].strip()
        assert not text[cursor:start].strip()
        cursor = end
    assert not text[cursor:].strip()


def test_french_quotes_dates_and_numbers():
    got = sentences(FRENCH)
    assert len(got) == 6
    assert got[1].startswith("Ahmadian a profité") and got[1].endswith("», selon les médias d’État iraniens.")
    assert got[2].startswith("« Un pays") and got[2].endswith("», a-t-il ajouté.")
    assert got[3].endswith("le sud d’Israël le 7 octobre.")
    assert got[4].startswith("Alors qu’Israël lançait")
    assert "au moins 94 personnes, revendiqué" in got[5]
    assert_spans_valid(FRENCH, split_sentences(FRENCH))


def test_arabic_splits_at_full_stops_only_and_stays_verbatim():
    spans = split_sentences(ARABIC)
    got = [ARABIC[s:e] for s, e in spans]
    assert len(got) == 8
    assert all(s.endswith((".", '".')) for s in got)  # never at ، or ؛
    assert all(s in ARABIC for s in got)
    assert any("«علي أكبر أحمديان»" in s for s in got)
    assert got[1] == 'وقال شويغو: "نهدف إلى تنفيذ مجموعة كاملة من الأنشطة المُخطط لها، على الرغم من معارضة الولايات المتحدة وحلفائها الغربيين".'
    assert_spans_valid(ARABIC, spans)


def test_arabic_quotes_and_eastern_digits_survive():
    assert sentences(ARABIC_HEADER) == ARABIC_HEADER.split("\n")  # each line is its own sentence, ٢١ intact
    got = sentences(ARABIC_QUOTES)
    assert got[0].endswith('"الوضع في إقليم ناغورني قره باغ".') and got[1].startswith('وأكد أن "العلاقات')


def test_german_quotes_and_years():
    got = sentences(GERMAN)
    assert len(got) == 14
    assert got[2].endswith("„entwickelt sich heute besonders aktiv.“")  # closing quote stays with its sentence
    assert got[3].startswith("Er fügte hinzu") and got[3].endswith("zitierte .")
    assert got[-1].startswith("Dies sagte") and "im November 2022 dass Teheran" in got[-1]
    assert_spans_valid(GERMAN, split_sentences(GERMAN))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("V. Putin and M. Macron met Mme. Dupont. It rained.", ["V. Putin and M. Macron met Mme. Dupont.", "It rained."]),
        ("Das ist z.B. gut, d.h. sehr gut. Es kamen ca. 50 Leute, u.a. Nr. 5 usw. Ende.",
         ["Das ist z.B. gut, d.h. sehr gut.", "Es kamen ca. 50 Leute, u.a. Nr. 5 usw. Ende."]),
        ("Am 7. Oktober griff die Hamas an. Am 3. März auch.", ["Am 7. Oktober griff die Hamas an.", "Am 3. März auch."]),
        ("Es stieg auf 94. Die Polizei kam.", ["Es stieg auf 94.", "Die Polizei kam."]),
        ("Growth was 7.5 percent, or 1.117 billion. Fine.", ["Growth was 7.5 percent, or 1.117 billion.", "Fine."]),
        ("Apples, pears, etc. Prof. Smith, e.g. Brown, i.e. Green, vs. St. Paul.",
         ["Apples, pears, etc. Prof. Smith, e.g. Brown, i.e. Green, vs. St. Paul."]),
        ("See https://example.com/a.b?q=1 or a.b@c.de. Next!", ["See https://example.com/a.b?q=1 or a.b@c.de.", "Next!"]),
        ("« Je ne sais pas… Peut-être », dit-il. Il partit.", ["« Je ne sais pas… Peut-être », dit-il.", "Il partit."]),
        ("« La grandeur est brisée. Elle ne peut pas », selon eux. Fin.", ["« La grandeur est brisée. Elle ne peut pas », selon eux.", "Fin."]),
        ("Il a dit : « Non ! » Puis il partit. Vraiment ?! Oui.", ["Il a dit : « Non ! »", "Puis il partit.", "Vraiment ?!", "Oui."]),
        ("„Wir kommen. Morgen“, sagte er. Er ging.", ["„Wir kommen. Morgen“, sagte er.", "Er ging."]),
        ("He said \"wait...\" and left. Wait... What? (Really.) Yes.", ['He said "wait..." and left.', "Wait...", "What?", "(Really.)", "Yes."]),
        ("هل هذا صحيح؟ نعم، هذا صحيح؛ بالتأكيد. تم", ["هل هذا صحيح؟", "نعم، هذا صحيح؛ بالتأكيد.", "تم"]),
        ("یہ ایک جملہ ہے۔ یہ دوسرا ہے۔", ["یہ ایک جملہ ہے۔", "یہ دوسرا ہے۔"]),
        ("हिंदी वाक्य। दूसरा वाक्य॥ तीसरा", ["हिंदी वाक्य।", "दूसरा वाक्य॥", "तीसरा"]),
        ("他说：“我们走。”然后离开了。今天很好！明天呢？", ["他说：“我们走。”然后离开了。", "今天很好！", "明天呢？"]),
        ("「行く。」と彼は言った。次の文。", ["「行く。」と彼は言った。", "次の文。"]),
        ("Wikipedia says so.[1] Answers cite too. [2, 3] Done [4].",
         ["Wikipedia says so.[1]", "Answers cite too. [2, 3]", "Done [4]."]),
        ("Title without stop\nFirst line\n\n  Second. Third  \n", ["Title without stop", "First line", "Second.", "Third"]),
    ],
)
def test_sentence_rules(text, expected):
    assert sentences(text) == expected


def test_empty_and_blank_texts():
    assert split_sentences("") == [] and split_sentences(" \n\n\t") == []
    assert chunk_document(doc("")) == [] and chunk_document(doc("  \n ")) == []


def assert_chunks_valid(document: Document, chunks: list[Chunk], max_tokens: int, overlap: int) -> None:
    text = document.text
    assert [c.index for c in chunks] == list(range(len(chunks)))
    units = sorted({span for c in chunks for span in c.sentences})
    assert_spans_valid(text, units)  # together the chunks cover the whole text
    for prev, cur in zip([None, *chunks], chunks):
        assert cur.text == text[cur.start : cur.end] and cur.token_count == count_tokens(cur.text)
        assert cur.token_count <= max_tokens or len(cur.sentences) == 1
        assert cur.sentences == sorted(cur.sentences)
        assert cur.sentences[0][0] == cur.start and cur.sentences[-1][1] == cur.end
        assert cur.doc_id == document.doc_id and cur.language == document.language
        if prev is None:
            continue
        shared = len(set(prev.sentences) & set(cur.sentences))
        assert prev.sentences[len(prev.sentences) - shared :] == cur.sentences[:shared]
        assert cur.start > prev.start and cur.end > prev.end and shared < len(prev.sentences)
        if shared < min(overlap, len(prev.sentences) - 1):  # overlap shortened only when it would not fit
            wider = text[prev.sentences[-shared - 1][0] : cur.sentences[shared][1]]
            assert count_tokens(wider) > max_tokens


def test_chunk_invariants_on_seeds_with_random_budgets():
    rng = random.Random(7)
    for language, text in SEEDS.items():
        for _ in range(25):
            max_tokens, overlap = rng.randint(5, 400), rng.randint(0, 3)
            document = doc(text, language)
            chunks = chunk_document(document, max_tokens=max_tokens, overlap_sentences=overlap)
            assert_chunks_valid(document, chunks, max_tokens, overlap)


def test_chunk_invariants_on_random_punctuation_soup():
    pieces = list(". ,;:!?…\n\r\t\u00a0«»„“”\"'()。！？字،؛؟۔1-–") + ["Mr.", "z.B.", "7. Oktober", "V.", "word ", "ა ", "😀"]
    rng = random.Random(3)
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 300)))
        max_tokens, overlap = rng.randint(1, 50), rng.randint(0, 3)
        document = doc(text)
        assert_chunks_valid(document, chunk_document(document, max_tokens, overlap), max_tokens, overlap)


def test_short_paragraphs_are_packed_and_paragraph_ends_preferred():
    paragraphs = [f"Paragraph {i} has one short sentence. And a second one." for i in range(12)]
    document = doc("\n\n".join(paragraphs))
    chunks = chunk_document(document, max_tokens=60, overlap_sentences=0)
    assert_chunks_valid(document, chunks, 60, 0)
    assert all("\n\n" in c.text for c in chunks[:-1])  # packed across paragraphs
    assert all(c.text.endswith("second one.") for c in chunks)  # and cut where a paragraph ends


def test_long_sentence_is_cut_at_clause_marks_then_words_then_characters():
    arabic = sentences(ARABIC_QUOTES)[0]
    chunks = chunk_document(doc(arabic, "ar"), max_tokens=25, overlap_sentences=0)
    assert len(chunks) > 1 and all(c.token_count <= 25 for c in chunks)
    assert sum(c.text.endswith("،") for c in chunks) >= 2

    words = " ".join(["Wort"] * 400) + "."
    chunks = chunk_document(doc(words, "de"), max_tokens=30)
    assert_chunks_valid(doc(words, "de"), chunks, 30, 1)
    assert all(c.text.startswith("Wort") for c in chunks)

    cjk = "中文没有空格" * 200
    chunks = chunk_document(doc(cjk, "zh"), max_tokens=40, overlap_sentences=0)
    assert_chunks_valid(doc(cjk, "zh"), chunks, 40, 0)
    assert "".join(c.text for c in chunks) == cjk


def test_chunk_language_is_detected_only_on_enough_letters():
    chunks = chunk_document(doc(FRENCH, "fr"), max_tokens=80, detect_language=lambda _: "xx")
    assert len(chunks) > 1 and {c.language for c in chunks} == {"xx"}
    short = chunk_document(doc("OK. Oui, 12 345 678.", "fr"), detect_language=lambda _: "xx")
    assert [c.language for c in short] == ["fr"]  # too few letters to trust a detector


def test_bad_budgets_are_rejected():
    with pytest.raises(ValueError):
        chunk_document(doc(FRENCH), max_tokens=0)
    with pytest.raises(ValueError):
        chunk_document(doc(FRENCH), overlap_sentences=-1)


def test_two_megabytes_of_text():
    text = "\n\n".join(SEEDS.values())
    text = (text + "\n") * (2_000_000 // len(text) + 1)
    chunks = chunk_document(doc(text, "und"))
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    assert all(c.token_count <= 220 for c in chunks)


def test_long_sentences_are_cut_into_clauses_for_their_vectors():
    """short_units keeps sentences within the budget as they are and cuts longer ones at clause marks (the
    Arabic comma included), every piece within the budget, verbatim and in order."""
    short = "Schoigu traf Bagheri in Teheran."
    long_ar = "، ".join(["وقال وزير الدفاع الروسي إن التعاون العسكري بين البلدين يتطور بسرعة كبيرة"] * 6) + "."
    text = f"{short} {long_ar}"
    spans = [(0, len(short)), (len(short) + 1, len(text))]
    units = short_units(text, spans, 64)
    assert units[0] == spans[0] and len(units) >= 3
    assert all(count_tokens(text[s:e]) <= 64 for s, e in units)
    assert " ".join(text[s:e] for s, e in units[1:]) == long_ar  # nothing lost, nothing moved
    assert all(text[s:e].endswith(("،", ".")) for s, e in units[1:])  # cut at the clause marks
