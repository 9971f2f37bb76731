"""Uploaded articles and zips, saved under `data_dir/uploads` and nowhere else.

Every name is reduced to a safe file name; only the ingestible extensions (plus `.meta.yaml` sidecars)
are kept; each file is capped at `ingest.max_file_mb`; a zip is capped in member count and in total
uncompressed size, counted while extracting (headers can lie), and members with absolute paths, `..`,
symlinks or encryption are rejected. Uploading a file with an existing name replaces it.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rag.config import Settings

ZIP_MAX_MEMBERS = 1000
ZIP_MAX_TOTAL_MB = 200
SIDECAR = ".meta.yaml"
_CHUNK = 1 << 16


@dataclass
class SaveResult:
    """Saved article files (sidecars are saved next to them but not listed) and rejected names with reasons."""

    articles: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


class _TooLarge(Exception):
    pass


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def split_ext(name: str) -> tuple[str, str]:
    """(stem, extension), treating `.meta.yaml` as one extension."""
    if name.lower().endswith(SIDECAR):
        return name[: -len(SIDECAR)], name[-len(SIDECAR):]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def safe_name(name: str, limit: int = 120) -> str:
    """A plain file name: no folders, only letters (any script), digits, '.', '-' and '_', never hidden."""
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, ext = split_ext(re.sub(r"[^\w.-]+", "_", base).strip("._-"))
    stem, ext = stem.strip("._-"), ext.lower()
    return stem[: max(1, limit - len(ext))] + ext if stem else "upload" + ext


def _allowed(name: str, settings: Settings) -> bool:
    ext = split_ext(name)[1].lower()
    return ext == SIDECAR or ext in {e.lower() for e in settings.ingest.extensions}


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _write_limited(read: Callable[[int], bytes], target: Path, limit: int) -> int:
    """Copy from `read` to `target` (atomically), failing past `limit` bytes; returns bytes written."""
    partial = target.with_name(target.name + ".partial")
    written = 0
    try:
        with open(partial, "wb") as out:
            while chunk := read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise _TooLarge
                out.write(chunk)
        os.replace(partial, target)
        return written
    finally:
        partial.unlink(missing_ok=True)


def save_uploads(files: Iterable[str | Path], settings: Settings) -> SaveResult:
    """Save uploaded files (zips are extracted into a folder named after the zip) under the uploads dir."""
    root = uploads_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    result = SaveResult()
    for file in files:
        source = Path(file)
        name = safe_name(source.name)
        if split_ext(name)[1] == ".zip":
            _extract_zip(source, root, root / split_ext(name)[0], settings, result)
        else:
            _save_file(source, root, name, settings, result)
    return result


def _max_bytes(settings: Settings) -> int:
    return int(settings.ingest.max_file_mb * 1024 * 1024)


def _record(result: SaveResult, target: Path) -> None:
    if not target.name.lower().endswith(SIDECAR):
        result.articles.append(target)


def _save_file(source: Path, root: Path, name: str, settings: Settings, result: SaveResult) -> None:
    if not _allowed(name, settings):
        result.rejected.append((source.name, _type_reason(name, settings)))
        return
    target = root / name
    try:
        with open(source, "rb") as handle:
            _write_limited(handle.read, target, _max_bytes(settings))
    except _TooLarge:
        result.rejected.append((source.name, f"larger than the {settings.ingest.max_file_mb:g} MB limit"))
        return
    except OSError as exc:
        result.rejected.append((source.name, f"cannot be saved ({exc.strerror or type(exc).__name__})"))
        return
    _record(result, target)


def _type_reason(name: str, settings: Settings) -> str:
    ext = split_ext(name)[1] or "no extension"
    return f"type '{ext}' is not accepted (allowed: {', '.join(settings.ingest.extensions)}, .zip)"


def member_problem(member: zipfile.ZipInfo, settings: Settings) -> str:
    """Why a zip member cannot be extracted, or '' when it can."""
    raw = member.filename.replace("\\", "/")
    path = PurePosixPath(raw)
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in path.parts:
        return "path points outside the upload folder"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "symbolic links are not accepted"
    if member.flag_bits & 0x1:
        return "encrypted members are not accepted"
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return "hidden or system file"
    if not _allowed(path.name, settings):
        return _type_reason(path.name, settings)
    if member.file_size > _max_bytes(settings):
        return f"larger than the {settings.ingest.max_file_mb:g} MB limit"
    return ""


def _extract_zip(source: Path, root: Path, folder: Path, settings: Settings, result: SaveResult) -> None:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        result.rejected.append((source.name, "not a readable zip file"))
        return
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        budget = ZIP_MAX_TOTAL_MB * 1024 * 1024
        if len(members) > ZIP_MAX_MEMBERS:
            result.rejected.append((source.name, f"holds {len(members)} files; the limit is {ZIP_MAX_MEMBERS}"))
            return
        if sum(m.file_size for m in members) > budget:
            result.rejected.append((source.name, f"unpacks to more than {ZIP_MAX_TOTAL_MB} MB"))
            return
        for member in members:
            label = f"{source.name}: {member.filename}"
            problem = member_problem(member, settings)
            target = folder.joinpath(*(safe_name(p) for p in PurePosixPath(member.filename.replace("\\", "/")).parts))
            if not problem and not _inside(target, root):
                problem = "path points outside the upload folder"
            if problem:
                result.rejected.append((label, problem))
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as handle:
                    budget -= _write_limited(handle.read, target, min(_max_bytes(settings), budget))
            except _TooLarge:
                result.rejected.append((label, "unpacks larger than declared or than the size limits"))
                continue
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                result.rejected.append((label, f"cannot be unpacked ({type(exc).__name__})"))
                continue
            _record(result, target)


def remove_upload(path: str | Path, settings: Settings) -> bool:
    """Delete an uploaded article (and its sidecar); files outside the uploads dir are left alone."""
    path, root = Path(path), uploads_dir(settings)
    if not root.exists() or not _inside(path, root):
        return False
    path.unlink(missing_ok=True)
    path.with_name(path.stem + SIDECAR).unlink(missing_ok=True)
    return True

