"""The web UI end to end in real headless Chromium: the app served in-process on a free loopback port over a
temp index of the seed corpus, answering with LLM backend "none" (extractive, deterministic, fast).

Screenshots of each step go to test-artifacts/ui/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.pipeline import ingest
from tests.rag_fixtures import CORPUS, REPO, free_port, make_context
from ui.app import build_app, launch

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts" / "ui"
SLOW = 180_000  # ms: embedding on a shared 2-core machine can stall

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")

HOSTILE = """Zorblat lantern festival <script>window.__pwned = 1</script> draws crowds
Quixton, 12 May 2024. The Zorblat lantern festival in Quixton drew 4,000 visitors on Sunday <img src=x onerror="window.__pwned = 1">, the organisers said.
Local bakers sold 900 lantern-shaped cakes <b onmouseover="window.__pwned = 1">at the market</b> during the festival.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ctx = make_context(tmp_path_factory.mktemp("ui-data"), llm={"backend": "none"})
    report = ingest([CORPUS], ctx.settings, ctx.store, ctx.embedder)
    assert report.count("added") == 3
    app = build_app(ctx)
    yield launch(app, "127.0.0.1", free_port())
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(SLOW)
    errors: list = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(server, wait_until="domcontentloaded")  # a Gradio page never reaches networkidle offline
    page.wait_for_selector("#question textarea")
    yield page
    assert not errors, errors
    assert page.evaluate("window.__pwned") is None
    page.close()


def shot(page, name: str, selector: str | None = None) -> None:
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(ARTIFACTS / f"{name}.png"), **({} if selector else {"full_page": True}))


def ask(page, question: str, turns: int) -> None:
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#transcript .turn').length === n && !document.querySelector('#transcript .draft')", arg=turns)


def expect(locator):
    """Playwright's auto-waiting assertions (imported lazily: without chromium these tests skip and need no playwright)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=SLOW)
    return expect(locator)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_chat_follow_up_and_click_through_to_the_arabic_source(page):
    ask(page, "Who did the Russian defence minister meet in Tehran?", 1)
    shot(page, "01-chat-answer")
    ask(page, "What did they discuss?", 2)
    markers = page.eval_on_selector_all("#transcript .turn:first-child a.cite", "links => links.map(a => a.dataset.target)")
    arabic = [t for t in markers if page.locator(f"#{t} blockquote[lang=ar]").count()]
    assert arabic, f"no Arabic citation among {markers}"
    card = page.locator(f"#{arabic[0]}")
    assert card.evaluate("el => el.open") is False  # an earlier answer's sources start closed

    page.click(f"#transcript .turn:first-child a.cite[data-target={arabic[0]}]")
    page.wait_for_function("id => document.getElementById(id).open", arg=arabic[0])
    assert card.evaluate("el => el.classList.contains('flash')")
    quote = card.locator("blockquote.passage")
    assert (quote.get_attribute("dir"), quote.get_attribute("lang")) == ("rtl", "ar")
    style = quote.evaluate("el => { const s = getComputedStyle(el); return [s.direction, s.unicodeBidi, s.letterSpacing]; }")
    assert style == ["rtl", "plaintext", "normal"]  # letter-spacing would break Arabic joining
    mark = card.locator("mark").inner_text()
    assert "شويغو" in mark and mark.strip().rstrip(".") in page.inner_text("#transcript .turn:first-child")  # the quoted sentence
    assert page.evaluate(f"""() => {{
        const r = document.getElementById('{arabic[0]}').getBoundingClientRect();
        return r.top >= 0 && r.top < window.innerHeight; }}""")  # scrolled into view
    shot(page, "02-chat-arabic-source", "#sources")
    shot(page, "03-chat-after-click")

    page.click("#markdown-accordion button, #markdown-accordion .label-wrap")
    page.wait_for_function("() => document.querySelector('#answer-markdown textarea')?.value.startsWith('**Question:**')")
    markdown = page.input_value("#answer-markdown textarea")
    assert markdown.startswith("**Question:** What did they discuss?") and "**Sources**" in markdown and "\n> " in markdown
    page.click("#retrieved-accordion button, #retrieved-accordion .label-wrap")
    page.wait_for_selector("#retrieved .hit")  # accordion contents render when first opened
    page.locator("#retrieved").scroll_into_view_if_needed()
    shot(page, "04-chat-retrieved-and-markdown")

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#transcript")).to_contain_text("Ask a question about the indexed articles")
    expect(page.locator("#sources details")).to_have_count(0)


def test_upload_a_hostile_article_then_ask_about_it(page, tmp_path):
    article = tmp_path / "zorblat <festival>.txt"
    article.write_text(HOSTILE, encoding="utf-8")
    open_tab(page, "Library")
    expect(page.locator("#documents")).to_contain_text("Russland-Iran-Beziehungen")
    page.set_input_files("#upload input[type=file]", str(article))
    expect(page.locator("#upload")).to_contain_text("zorblat")
    page.click("#add-files")
    expect(page.locator("#outcomes")).to_contain_text("added")
    assert "zorblat_festival.txt" in page.inner_text("#outcomes")
    expect(page.locator("#documents")).to_contain_text("<script>window.__pwned = 1</script>")  # title as text
    shot(page, "05-library-after-upload")

    open_tab(page, "Chat")
    ask(page, "How many visitors did the Zorblat lantern festival in Quixton draw?", 1)
    assert "4,000" in page.inner_text("#transcript")
    expect(page.locator("#sources")).to_contain_text('<img src=x onerror="window.__pwned = 1">')
    assert page.locator("#sources img, #transcript img, #sources script, #sources b").count() == 0
    shot(page, "06-chat-hostile-article")


def test_summary_with_citations_and_coverage(page):
    open_tab(page, "Summaries")
    page.fill("#summary-topic textarea", "Shoigu's visit to Tehran")
    page.click("#summarise")
    page.wait_for_selector("#summary .coverage")
    assert page.locator("#summary a.cite").count() >= 1
    assert page.inner_text("#summary .coverage").startswith("Coverage: cited")
    languages = page.eval_on_selector_all("#summary-sources blockquote", "qs => qs.map(q => [q.lang, q.dir])")
    assert ["ar", "rtl"] in languages, languages
    target = page.locator("#summary a.cite").last.get_attribute("data-target")
    page.click(f"#summary a.cite[data-target={target}]")
    assert page.locator(f"#{target}").evaluate("el => el.open && el.classList.contains('flash')")
    shot(page, "07-summary")


def test_slow_model_streams_queues_and_leaves_the_library_usable(browser, tmp_path):
    """With a model that takes seconds, a second asker sees their queue position, and the library can
    ingest meanwhile; then the verified answer replaces the draft."""
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI() as fake:
        for _ in range(2):
            fake.reply("Schoigu traf in Teheran den Generalstabschef Mohammad Bagheri [1].", delay=20)
        ctx = make_context(tmp_path / "data", llm={"backend": "openai", "base_url": fake.base_url, "model": "fake-model",
                                                    "api_key": "sk-fake", "max_retries": 0})
        ingest([CORPUS / "002_c07cee82c88fe1e3.txt"], ctx.settings, ctx.store, ctx.embedder)
        app = build_app(ctx)
        url = launch(app, "127.0.0.1", free_port())
        first, second = browser.new_page(viewport={"width": 1400, "height": 1000}), browser.new_page()
        try:
            for page in (first, second):
                page.set_default_timeout(SLOW)
                page.goto(url, wait_until="domcontentloaded")
                page.wait_for_selector("#question textarea")
            for page in (first, second):
                page.fill("#question textarea", "Wen traf Schoigu in Teheran?")
                page.click("#ask")
            expect(second.locator("#transcript")).to_contain_text("queue")
            shot(second, "08-second-asker-queued")

            article = tmp_path / "extra.txt"
            article.write_text("Die Delegation besichtigte am Mittwoch eine Ausstellung von Drohnen und Raketen.\n", encoding="utf-8")
            open_tab(first, "Library")
            first.set_input_files("#upload input[type=file]", str(article))
            expect(first.locator("#upload")).to_contain_text("extra")
            first.click("#add-files")
            expect(first.locator("#outcomes")).to_contain_text("added")
            assert first.locator("#transcript .draft").count() == 1  # the answer is still being written
            shot(first, "09-library-while-answering")

            open_tab(first, "Chat")
            first.wait_for_function("() => !document.querySelector('#transcript .draft')")
            assert "Bagheri" in first.inner_text("#transcript") and first.locator("#transcript a.cite").count() == 1
            shot(first, "10-verified-answer-after-slow-model")
        finally:
            first.close()
            second.close()
            app.close()


def test_settings_status_check(page):
    open_tab(page, "Settings")
    expect(page.locator("table.settings")).to_contain_text("extractive")
    page.click("#check-status")
    expect(page.locator("#checks")).to_contain_text("collection 'news'")
    text = page.inner_text("#checks")
    assert "FAIL" not in text and "data directory" in text and "embedder" in text
    shot(page, "11-settings-status")
