"""Text addressed to an AI model rather than reporting news: prompt injection planted in articles.

Such sentences are never shown to a model as evidence, and a document containing any is flagged at
ingestion (`Document.planted_instructions`) so answers and summaries can set the whole source aside:
an article that tries to steer the reader's assistant is not a source to trust for its other claims either.
The count is taken before cleaning removes planted chat turns and hidden HTML, so those attacks flag
their document too.
"""

from __future__ import annotations

import re

# Kept deliberately specific so that reporting *about* instructions ("the ministry ignored previous
# warnings") is not caught.
_INSTRUCTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(previous|prior|above|earlier|all|any|your)\b.{0,20}\b(instructions?|prompts?|rules|directives|messages)\b",
    r"\b(system|developer|assistant)\s+(note|prompt|message|instruction)s?\s*:",
    r"\byou are (now )?(an? )?(ai|assistant|chatbot|language model|llm)\b",
    r"\b(reply|respond|answer)\b.{0,25}\b(only|exclusively)\b.{0,10}\bwith\b",
    r"\bnew instructions?\s*:",
    r"\b(ignore[zr]?|oublie[zr]?)\b.{0,30}\b(instructions?|consignes)\b",
    r"\b(ignorier(e|en)?|vergiss)\b.{0,30}\b(anweisungen|befehle|instruktionen)\b",
    r"\b(ignora|olvida)\b.{0,30}\b(instrucciones|indicaciones)\b",
    r"\b(игнорируй(те)?|забудь(те)?)\b.{0,30}\b(инструкции|указания)\b",
    r"(تجاهل|انس).{0,30}(التعليمات|الأوامر|التوجيهات)",
    r"(نادیده بگیر|فراموش کن).{0,30}(دستورالعمل|دستورات)|(دستورالعمل|دستورات).{0,30}(نادیده بگیر)",
    r"</?\s*(system|assistant|user|developer|evidence|instructions?|context|prompt)\s*>",  # fake chat markup
    r"^\W{0,4}(system|assistant|developer|note (for|to) the (assistant|ai|model))\s*:",  # role-prefixed lines
    r"\b(answer|reply|respond)\s+(to\s+)?(every|all|each|any)\s+(question|query|request)s?\b",
    # chat-template control tokens and turn markers of the common model families (ChatML, Llama, Gemma,
    # Alpaca-style headers): never news, only ever written to fake a conversation turn
    r"<\|[^|<>\s]{1,40}\|>|\[/?INST\]|<</?SYS>>|<(start|end)_of_turn>",
    r"^\W{0,6}#{1,6}\s*(system|user|assistant|human|instruction|response)\s*:",
    r"\bfollow\s+(its|these|the|my|our|their)\s+instructions\b",
    r"\b(outranks?|overrides?)\s+the\s+(user|developer|system)",
    r"\b(citation|fact)[- ]?check(er|ing)?\s+(is|has been)\s+(disabled|off|turned off)",
    r"\bappend\b.{0,60}\bto\s+(every|each|all|your)\s+(answers?|responses?|replies)",
    r"\bnever\s+say\s+that\s+the\s+sources",
    r"\b(reply|respond|answer|say|output)\s+only\s*:",
    r"\b(instruction|consigne)s?\s+(cach[ée]e?s?|pour l['’]assistant)",
    r"\br[ée]pondez\b.{0,40}\b(uniquement|seulement)\b",
    r"\bne\s+dites\s+jamais\b",
    r"(ملاحظة|تعليمات)\s+(للنظام|للمساعد)",
    r"\b(antworte|antworten sie)\b.{0,30}\b(nur|ausschließlich)\b",
    r"\bresponde\b.{0,30}\b(solo|solamente|únicamente)\b",
]
# A line that starts with a bracketed number is a reference-list entry, not reporting: planted "Sources:"
# blocks use them to fake citations.
_REFERENCE_ENTRY = re.compile(r"^\s*\[\s*\d+\s*\]")
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.DOTALL | re.MULTILINE)


def looks_like_instruction(text: str) -> bool:
    """True for text that tries to instruct the model (prompt injection inside an article) or poses as a
    citation (a planted reference-list entry)."""
    return bool(_INSTRUCTION.search(text) or _REFERENCE_ENTRY.match(text))


def count_instructions(*texts: str) -> int:
    """How many lines (paragraphs, in extracted article text) of `texts` try to instruct the model."""
    return sum(1 for text in texts for line in text.splitlines() if line.strip() and looks_like_instruction(line.strip()))
