"""`answer()`: a question in, a verified answer with numbered citations out, or an honest abstention.

Steps: (condense a follow-up) → retrieve → select evidence sentences → generate with the configured
LLM, or extract the best sentences when there is none → verify every sentence against its citations →
abstain in the user's language when nothing relevant or nothing supported remains, or when a model's
supported sentences do not give the number or day the question asks for. In the opt-in 'quotes' style
(answer.style) an answer that passes is then made of the closest source sentences, translated into the
user's language and checked again, instead of the model's own words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from rag.cite import Claim, gives_what_is_asked, parse_claims, render, renumber, support_scores, verify_claims
from rag.consistency import asked_detail, details_supported
from rag.context import RagContext
from rag.evidence import Evidence, VectorCache, is_question, select_evidence
from rag.generate import abstention, answer_messages, as_quote, condense_messages, is_no_answer, translation_messages
from rag.ingest.chunking import split_sentences
from rag.ingest.language import UNDETERMINED, detect_language
from rag.injection import looks_like_instruction
from rag.retrieve import Filters, SetAside, fuse_rankings, set_aside_flagged, translate_query, uses_flagged
from rag.store import Hit
from rag.tokens import count_tokens

TokenFn = Callable[[str], None]
EXTRACTIVE_DOC_MARGIN = 0.02  # a document's best sentence this close to the best overall is quoted too


@dataclass
class Answer:
    """Everything the CLI, the UI and the evals show or measure about one answer."""

    question: str
    language: str
    text: str  # verified text with dense [n] markers, or the abstention
    claims: list[Claim]
    citations: list[Evidence]  # numbered 1..m as in `text`
    abstained: bool
    mode: str  # "extractive" or the LLM backend
    standalone_question: str = ""
    evidence: list[Evidence] = field(default_factory=list)  # what the model saw, in prompt numbering
    retrieved: list[Hit] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)  # retrieved documents left out: they try to instruct AI models
    raw_text: str = ""  # the model's output before verification
    abstain_reason: str = ""  # why it abstained, for the CLI, the UI and the eval reports ("" when it answered)
    timings_ms: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "language": self.language,
            "answer": self.text,
            "abstained": self.abstained,
            "mode": self.mode,
            "sentences": [c.__dict__ for c in self.claims],
            "citations": [e.to_dict() for e in self.citations],
            "evidence": [e.to_dict() for e in self.evidence],
            "retrieved": [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "title": h.title, "language": h.language,
                           "score": h.score} for h in self.retrieved],
            "set_aside": [s.__dict__ for s in self.set_aside],
            "raw_model_output": self.raw_text,
            "abstain_reason": self.abstain_reason,
            "timings_ms": self.timings_ms,
            "tokens": self.tokens,
        }


class Answerer:
    """Holds the context, the sentence-vector cache and the LLM endpoint between questions."""

    def __init__(self, ctx: RagContext, llm: str | None = None) -> None:
        from rag.llm.client import make_chat_client

        self.ctx = ctx
        self.settings = ctx.settings
        backend = llm or self.settings.llm.backend
        self.mode = "extractive" if backend == "none" else backend
        settings = self.settings.model_copy(update={"llm": self.settings.llm.model_copy(update={"backend": backend})})
        self.chat = make_chat_client(settings)
        cfg, embedder = self.settings.answer, ctx.embedder
        self.support_threshold = embedder.support_threshold if cfg.support_threshold is None else cfg.support_threshold
        self.relevance_threshold = embedder.relevance_threshold if cfg.relevance_threshold is None else cfg.relevance_threshold
        self.cache = VectorCache(ctx.embedder, path=self.settings.vector_cache_path)

    def answer(
        self,
        question: str,
        *,
        lang: str | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[tuple[str, str]] = (),
        on_token: TokenFn | None = None,
    ) -> Answer:
        cfg = self.settings.answer
        clock = StepClock()
        # the language of everything the user typed: once an instruction is cut, "Who is Ali Akbar
        # Ahmadian?" alone is mostly names, and short-text detection took it for Indonesian
        language = lang or detect_language(question)
        question = without_instructions(question.strip())
        language = "en" if language == "und" else language
        standalone = self._standalone(question, history) if history else question
        clock.lap("condense")

        query_vector = self.cache.query(standalone)
        hits, set_aside = self._retrieve(standalone, query_vector, language, k or cfg.k, filters or Filters(), clock)
        clock.lap("retrieval")
        evidence = select_evidence(query_vector, hits, self.cache, max_tokens=cfg.evidence_tokens, max_sentences=cfg.max_evidence)
        clock.lap("evidence")
        result = Answer(question, language, "", [], [], True, self.mode, standalone, evidence, hits, set_aside)
        if not evidence or max(ev.score for ev in evidence) < self.relevance_threshold:
            return self._abstain(result, clock, "nothing in the indexed articles is close enough to the question")

        if self.chat is None:
            claims = self._extract(evidence)
        else:
            messages = answer_messages(standalone, evidence, language)
            result.tokens["prompt"] = sum(count_tokens(m["content"]) for m in messages)
            result.raw_text = self._generate(messages, on_token, clock)
            result.tokens["completion"] = count_tokens(result.raw_text)
            if is_no_answer(result.raw_text):
                return self._abstain(result, clock, "the model found no answer in the evidence")
            claims = parse_claims(result.raw_text, language)
        kept = verify_claims(claims, evidence, self.cache, self.support_threshold, keep_unsupported=cfg.keep_unsupported,
                             question=standalone if self.chat is not None else "")
        clock.lap("verify")
        if self.chat is not None and cfg.style == "written":
            kept = self._in_language(kept, language, evidence)
            clock.lap("answer_language")
        if not any(c.supported for c in kept):
            return self._abstain(result, clock, "no sentence of the answer is supported by the sources it cites")
        # extractive mode quotes the closest sentences as they are; a model's answer must also give what was asked
        asked = asked_detail(standalone) if self.chat is not None else None
        if not gives_what_is_asked(asked, kept, evidence):
            return self._abstain(result, clock, f"the verified sentences do not give the {asked} the question asks for")
        if self.chat is not None and cfg.style == "quotes":
            kept = self._quoted(evidence, language)
            clock.lap("quotes")
        result.citations = renumber(kept, evidence)
        result.claims, result.text, result.abstained = kept, render(kept), False
        result.timings_ms = clock.laps
        return result

    def _retrieve(self, question: str, vector, language: str, k: int, filters: Filters, clock: "StepClock") -> tuple[list[Hit], list[SetAside]]:
        """The k best chunks, and the documents set aside because they try to instruct AI models; with
        `answer.query_translations` and a model, also the chunks of the question's translations, merged by
        reciprocal rank."""
        cfg = self.settings.answer
        where = filters.where()
        use_flagged = uses_flagged(cfg.use_flagged_sources, filters)
        depth = k if use_flagged else 2 * k  # room for trusted chunks in place of flagged ones
        targets = [lang for lang in cfg.query_translations if lang != language]
        if self.chat is None or not targets:
            hits = self.ctx.store.query(vector, depth, where=where)
        else:
            translations = [translate_query(self.chat, question, lang) for lang in targets]
            clock.lap("translation")
            vectors = [vector, *(self.cache.query(t) for t in translations)]
            hits = fuse_rankings([self.ctx.store.query(v, depth, where=where) for v in vectors], depth)
        return (hits[:k], []) if use_flagged else set_aside_flagged(hits, k)

    def _quoted(self, evidence: list[Evidence], language: str) -> list[Claim]:
        """The 'quotes' style: the model has found an answer and its sentences check out, so the sources
        answer; what they say is given in their own words, the closest sentences as extractive mode picks
        them, each translated into the question's language and checked by `_in_language`."""
        quotes = verify_claims(self._extract(evidence), evidence, self.cache, self.support_threshold)
        return self._in_language(quotes, language, evidence)

    def _in_language(self, claims: list[Claim], language: str, evidence: Sequence[Evidence]) -> list[Claim]:
        """The verified claims in the question's language. A small model now and then answers in an evidence
        sentence's language or a mix ("Ahmadian adalah sekretaire dari Conseil Suprême..."), so each
        supported claim detected in another language is sent once more as a plain translation request.

        The translation is checked as the original was (against the same evidence) and must still say what
        the original said; otherwise the verified original stays, in its language: a translation that
        tidies an unsupported sentence into a plausible one, or drops its facts, never reaches the user.
        """
        fixed = []
        for claim in claims:
            if not claim.supported or detect_language(claim.text) in (language, UNDETERMINED):
                fixed.append(claim)
                continue
            lines = self.chat.complete(translation_messages(claim.text, language, "sentence"),
                                       max_tokens=2 * count_tokens(claim.text) + 40).strip().splitlines()
            translated = lines[0].strip() if lines else ""
            checked = verify_claims([Claim(text=translated, cited=claim.citations)], evidence, self.cache,
                                    self.support_threshold) if translated else []
            if checked and self._says_the_same(translated, claim.text):
                fixed.append(replace(checked[0], note=checked[0].note or "translated"))
            else:
                fixed.append(replace(claim, note="kept in its language: the translation did not check out"))
        return fixed

    def _says_the_same(self, translation: str, original: str) -> bool:
        """The translation, read as a claim, is supported by the original sentence as evidence would be, and
        keeps every number and date the original states (the bundled model's translations of long source
        sentences dropped "94" from "at least 94 people" while still reading close to it)."""
        similarity = float(support_scores(self.cache.query(translation)[None, :], [original], self.cache)[0, 0])
        return (similarity >= self.support_threshold and details_supported(translation, [original])
                and details_supported(original, [translation]))

    def _standalone(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        if self.chat is None:  # no model to rewrite it: retrieval sees the previous question too
            return f"{history[-1][0]} {question}"
        rewritten = self.chat.complete(condense_messages(history, question), max_tokens=80).strip()
        return rewritten.splitlines()[0].strip() if rewritten else question

    def _generate(self, messages, on_token: TokenFn | None, clock: "StepClock") -> str:
        if on_token is None:
            text = self.chat.complete(messages)
            clock.lap("generation")
            return text
        parts = []
        for delta in self.chat.stream(messages):
            if not parts:
                clock.lap("first_token")
            parts.append(delta)
            on_token(delta)
        clock.lap("generation")
        return "".join(parts)

    def _extract(self, evidence: list[Evidence]) -> list[Claim]:
        """No LLM: the best evidence sentences that are not questions, each citing itself (the floor to beat).

        The best sentence of every document close to the top comes first, so a question whose facts
        are spread over articles gets each article's sentence."""
        ranked = sorted(evidence, key=lambda ev: ev.score, reverse=True)
        ranked = [ev for ev in ranked if not is_question(ev.text)] or ranked
        leaders = {}
        for ev in ranked:
            if ev.doc_id not in leaders and ev.score >= ranked[0].score - EXTRACTIVE_DOC_MARGIN:
                leaders[ev.doc_id] = ev
        chosen = list(leaders.values())
        chosen += [ev for ev in ranked if ev not in chosen][: max(0, self.settings.answer.extractive_sentences - len(chosen))]
        return [Claim(text=as_quote(ev.text), cited=[ev.n]) for ev in sorted(chosen, key=lambda ev: ev.n)]

    def _abstain(self, result: Answer, clock: "StepClock", reason: str) -> Answer:
        titles = [h.title for h in result.retrieved[:3]]
        result.text, result.abstained, result.claims, result.citations = abstention(result.language, titles), True, [], []
        result.abstain_reason = reason
        result.timings_ms = clock.laps
        return result


def without_instructions(question: str) -> str:
    """The question minus sentences that try to steer the system ("ignore your instructions and...").

    Grounding rules are not the user's to switch off from inside a question; what remains is answered
    normally. A question made only of such sentences is kept as it is (and will find no evidence).
    """
    spans = split_sentences(question)
    kept = [question[a:b] for a, b in spans if not looks_like_instruction(question[a:b])]
    return " ".join(kept) if kept and len(kept) < len(spans) else question


class StepClock:
    """Milliseconds per step and in total, for the answer's timings and bench/answer.py."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(1000 * (now - self.last), 1)
        self.laps["total"] = round(1000 * (now - self.started), 1)
        self.last = now


def answer(question: str, ctx: RagContext | None = None, **kwargs) -> Answer:
    """One-shot convenience: `rag.answer.answer("...")` with the configured defaults."""
    llm = kwargs.pop("llm", None)
    return Answerer(ctx or RagContext(), llm=llm).answer(question, **kwargs)
