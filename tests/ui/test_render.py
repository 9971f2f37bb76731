"""The UI's pure renderers: citation markers, RTL markup, exact highlighting, escaping, Markdown export."""

from __future__ import annotations

import lxml.html

from rag.answer import Answer
from rag.cite import Claim
from rag.evidence import Evidence
from rag.retrieve import SetAside
from rag.store import Hit
from rag.summarise import Coverage, Point, Statement, Summary
from ui import render

ARABIC_PASSAGE = "وصل الوزير إلى طهران. والتقى شويغو باللواء محمد باقري. وبحثا التعاون العسكري."
ARABIC_SENTENCE = "والتقى شويغو باللواء محمد باقري."
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes" <a href="javascript:alert(3)">x</a>'


def evidence(n=1, text=ARABIC_SENTENCE, passage=ARABIC_PASSAGE, language="ar", passage_start=100, **kw) -> Evidence:
    start = passage_start + passage.index(text)
    fields = dict(n=n, text=text, doc_id="doc-ar", chunk_id="c1", title="ايران وروسيا تبحثان", source="الوفاق (Al-Wefaq)",
                  date="2023-09-21", language=language, path="/x/ar.txt", start=start, end=start + len(text),
                  passage=passage, passage_start=passage_start, score=0.9)
    return Evidence(**{**fields, **kw})


def answer(claims, citations, **kw) -> Answer:
    fields = dict(question="q", language="en", text="", claims=claims, citations=citations, abstained=False, mode="extractive")
    return Answer(**{**fields, **kw})


def parse(markup: str):
    return lxml.html.fragment_fromstring(markup, create_parent="div")


def assert_inert(root) -> None:
    """No active element or attribute survived: everything hostile is text."""
    assert not root.xpath("//script | //img | //iframe | //a[starts-with(@href, 'javascript')]")
    assert not [a for el in root.iter() for a in el.attrib if a.startswith("on")]


def test_markers_link_to_their_source_cards_before_final_punctuation():
    claim = Claim("Shoigu met Bagheri in Tehran.", cited=[1], citations=[1, 2], supported=True)
    root = parse(render.claims_html([claim], "t3"))
    links = root.xpath("//a[@class='cite']")
    assert [a.text for a in links] == ["[1]", "[2]"]
    assert [a.get("data-target") for a in links] == ["src-t3-1", "src-t3-2"]
    assert [a.get("href") for a in links] == ["#src-t3-1", "#src-t3-2"]
    assert root.text_content().strip() == "Shoigu met Bagheri in Tehran [1][2]."


def test_marker_targets_exist_in_the_sources_panel():
    ev1, ev2 = evidence(1), evidence(2, language="fr", text="Il a rencontré Bagheri.", passage="Choïgou à Téhéran. Il a rencontré Bagheri.")
    turns = [("q", answer([Claim("A.", [1], [1, 2], supported=True)], [ev1, ev2]))]
    targets = {a.get("data-target") for a in parse(render.transcript_html(turns)).xpath("//a[@class='cite']")}
    cards = {d.get("id") for d in parse(render.sources_html(turns)).xpath("//details[@class='source']")}
    assert targets == cards == {"src-t0-1", "src-t0-2"}


def test_arabic_passage_is_rtl_with_lang_and_french_is_ltr():
    root = parse(render.source_html(evidence(), "t0"))
    quote = root.xpath("//blockquote[@class='passage']")[0]
    assert (quote.get("lang"), quote.get("dir")) == ("ar", "rtl")
    title = root.xpath("//bdi[@class='title']")[0]
    assert (title.get("lang"), title.get("dir"), title.text) == ("ar", "rtl", "ايران وروسيا تبحثان")
    assert "Outlet" in root.text_content() and "2023-09-21" in root.text_content()
    french = parse(render.source_html(evidence(language="fr", text="B.", passage="A. B."), "t0"))
    assert french.xpath("//blockquote")[0].get("dir") == "ltr"


def test_lang_attrs_for_rtl_languages_unknown_and_hostile_codes():
    assert render.lang_attrs("fa") == 'lang="fa" dir="rtl"'
    assert render.lang_attrs("he") == 'lang="he" dir="rtl"'
    assert render.lang_attrs("und") == 'lang="und" dir="auto"'
    assert render.lang_attrs('ar"><script>') == 'lang="und" dir="auto"'


def test_highlight_uses_the_exact_offsets_not_the_first_match():
    sentence = "Le sommet a eu lieu."
    passage = f"{sentence} Puis la presse a parlé. {sentence} Fin."
    second = passage.index(sentence, 1)
    ev = evidence(text=sentence, passage=passage, language="fr", passage_start=50)
    ev.start, ev.end = 50 + second, 50 + second + len(sentence)
    root = parse(render.highlighted_passage(ev))
    (mark,) = root.xpath("//mark")
    assert mark.text == sentence
    assert root.text_content() == passage
    assert root.text.endswith("Puis la presse a parlé. ")  # the mark is on the second occurrence


def test_highlight_falls_back_to_the_sentence_when_offsets_are_stale():
    ev = evidence()
    ev.start, ev.end = 0, 5
    (mark,) = parse(render.highlighted_passage(ev)).xpath("//mark")
    assert mark.text == ARABIC_SENTENCE


def test_hostile_article_text_is_escaped_everywhere():
    passage = f"Intro. {HOSTILE} Outro."
    ev = evidence(text=HOSTILE, passage=passage, language="en", title=HOSTILE, source=HOSTILE, date=HOSTILE)
    hit = Hit("c", "d", passage, 0.9, "en", HOSTILE, HOSTILE, None, 0, len(passage), [], "/p")
    claim = Claim(HOSTILE, [1], [1], supported=False, note=HOSTILE)
    turns = [(HOSTILE, answer([claim], [ev], retrieved=[hit]))]
    for markup in (render.transcript_html(turns, pending=(HOSTILE, HOSTILE)), render.sources_html(turns),
                   render.retrieved_html([hit]), render.notice_html(HOSTILE), render.settings_html([(HOSTILE, HOSTILE)]),
                   render.marked_text_html(HOSTILE + " [1]", "sum")):
        root = parse(markup)
        assert_inert(root)
        assert "<script>alert(1)</script>" in root.text_content()


def test_unsupported_sentences_are_flagged_with_their_note():
    claims = [Claim("Supported.", [1], [1], supported=True), Claim("Invented claim.", [1], [1], supported=False, note="numbers differ from the sources")]
    root = parse(render.answer_html(answer(claims, [evidence()]), "t0"))
    (flagged,) = root.xpath("//span[contains(@class, 'flagged')]")
    assert "Invented claim" in flagged.text_content() and "numbers differ from the sources" in flagged.text_content()
    assert len(root.xpath("//span[@class='claim']")) == 1


def test_abstention_and_draft_are_shown_as_text():
    abstained = answer([], [], abstained=True, text="The sources do not say.")
    root = parse(render.transcript_html([("Who?", abstained)], pending=("Next?", "Draft <b>so far</b> [1]")))
    assert root.xpath("//p[@class='abstained']")[0].text == "The sources do not say."
    assert "Draft <b>so far</b> [1]" in root.xpath("//div[@class='draft']")[0].text_content()
    why = answer([], [], abstained=True, text="The sources do not say.", abstain_reason="the model found <no> answer")
    assert "why: the model found <no> answer" in parse(render.answer_html(why, "t0")).xpath("//div[@class='answer-meta']")[0].text_content()
    assert not root.xpath("//div[@class='draft']//a")  # draft markers are not links: the draft is unchecked


def test_markdown_export_has_answer_and_each_source_in_its_language():
    ev = evidence(source="Al-Wefaq", passage=ARABIC_PASSAGE)
    ev.text = "والتقى شويغو\nباللواء محمد باقري."
    md = render.answer_markdown("Who did  Shoigu\nmeet?", answer([], [ev], text="Shoigu met Bagheri [1]."))
    assert md == ("**Question:** Who did Shoigu meet?\n\nShoigu met Bagheri [1].\n\n**Sources**\n\n"
                  "[1] *ايران وروسيا تبحثان* (Al-Wefaq, 2023-09-21, ar)\n> والتقى شويغو باللواء محمد باقري.")


def test_markdown_export_of_an_abstention_has_no_sources():
    md = render.answer_markdown("Q?", answer([], [], abstained=True, text="The sources do not say."))
    assert md == "**Question:** Q?\n\nThe sources do not say."


def test_summary_with_markers_differences_and_coverage():
    ev1, ev2 = evidence(1), evidence(2, language="de", text="Schoigu traf Bagheri.", passage="Schoigu traf Bagheri.")
    points = [Point("Shoigu met Bagheri.", [1], [1, 2], supported=True, doc_id="a", theme=0)]
    coverage = Coverage({"a": "ar", "b": "de", "c": "fr"}, relevant=["a", "b"], summarised=["a", "b"], cited=["a", "b"])
    summary = Summary("Shoigu", "en", "extractive", text="Shoigu met Bagheri [1][2].", points=points, citations=[ev1, ev2],
                      coverage=coverage, differences=[Statement("differ", "94 killed [1]. 84 killed [2].", [1, 2], ["a", "b"], "94 / 84")])
    root = parse(render.summary_html(summary))
    assert [a.get("data-target") for a in root.xpath("//a[@class='cite']")] == ["src-sum-1", "src-sum-2", "src-sum-1", "src-sum-2"]
    assert "Where the sources differ" in root.text_content() and "(94 / 84)" in root.text_content()
    assert root.xpath("//div[@class='coverage']")[0].text == (
        "Coverage: cited 2 of 2 summarised documents (2 relevant of 3 available); languages cited: ar, de of ar, de, fr.")
    cards = parse(render.summary_sources_html(summary)).xpath("//details/@id")
    assert cards == ["src-sum-1", "src-sum-2"]
    assert render.summary_markdown(summary).startswith("**Summary: Shoigu**\n\nShoigu met Bagheri [1][2].\n\n*Coverage: cited 2")


def test_sources_set_aside_are_named_in_answers_summaries_and_exports():
    aside = [SetAside("h1", HOSTILE, 3)]
    result = answer([Claim("Shoigu met Bagheri.", [1], [1], supported=True)], [evidence()], set_aside=aside)
    root = parse(render.answer_html(result, "t0"))
    assert_inert(root)
    (warning,) = root.xpath("//div[@class='set-aside']")
    assert "Set aside 1 source that contains text addressed to AI assistants" in warning.text_content()
    assert f"{HOSTILE} (3 passages)" in warning.text_content()
    assert "> ⚠ Set aside 1 source" in render.answer_markdown("Q?", result)
    summary = Summary("Shoigu", "en", "extractive", text="The sources do not say.", abstained=True,
                      coverage=Coverage({"a": "ar"}, set_aside=aside))
    assert parse(render.summary_html(summary)).xpath("//div[@class='set-aside']")
    assert "> ⚠ Set aside 1 source" in render.summary_markdown(summary)
    assert not parse(render.answer_html(answer([], [], abstained=True, text="No."), "t0")).xpath("//div[@class='set-aside']")
