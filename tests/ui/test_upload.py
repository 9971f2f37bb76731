"""Saving uploads: zip traversal, zip bombs, size and type limits, safe names; real files in a temp dir."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

import ui.uploads as uploads
from rag.config import Settings
from ui.uploads import remove_upload, safe_name, save_uploads, uploads_dir

ARTICLE = "Le ministre russe de la Défense est arrivé à Téhéran mercredi.\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", ingest={"max_file_mb": 0.01})  # ~10 KB per file


def make_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
    return path


def mark_encrypted(path: Path, name: str) -> None:
    """Set the 'encrypted' flag of a member in the central directory (zipfile cannot write encrypted members)."""
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    while not data[entry + 46:].startswith(name.encode()):
        entry = data.find(b"PK\x01\x02", entry + 1)
    data[entry + 8] |= 0x1
    path.write_bytes(bytes(data))


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def assert_only_in_uploads(tmp_path: Path, settings: Settings, inputs: set[Path]) -> None:
    """Every file in the temp dir is an input we made or sits under data_dir/uploads."""
    stray = {p for p in files_under(tmp_path) - inputs if not p.resolve().is_relative_to(uploads_dir(settings).resolve())}
    assert not stray


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\win.txt", "win.txt"),
    ("/abs/path/a.md", "a.md"),
    (".hidden.txt", "hidden.txt"),
    ("my article (1).TXT", "my_article_1.txt"),
    ("a\x00b;rm -rf ~.html", "a_b_rm_-rf.html"),
    ("مقال عن طهران.txt", "مقال_عن_طهران.txt"),
    ("x.META.YAML", "x.meta.yaml"),
    ("....txt", "txt"),
    ("", "upload"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_safe_name_keeps_the_extension_when_truncating():
    name = safe_name("a" * 500 + ".txt")
    assert len(name) == 120 and name.endswith(".txt")


def test_plain_files_are_saved_under_uploads_with_safe_names(tmp_path, settings):
    source = tmp_path / "Mon article!.txt"
    source.write_text(ARTICLE, encoding="utf-8")
    result = save_uploads([source], settings)
    assert result.articles == [uploads_dir(settings) / "Mon_article.txt"]
    assert result.articles[0].read_text(encoding="utf-8") == ARTICLE and not result.rejected


def test_same_name_replaces_the_earlier_upload(tmp_path, settings):
    source = tmp_path / "a.txt"
    source.write_text("first", encoding="utf-8")
    save_uploads([source], settings)
    source.write_text("second", encoding="utf-8")
    (saved,) = save_uploads([source], settings).articles
    assert saved.read_text(encoding="utf-8") == "second" and files_under(uploads_dir(settings)) == {saved}


def test_bad_extensions_are_rejected_and_not_written(tmp_path, settings):
    names = ["evil.exe", "script.sh", "noext", "page.txt.php", "archive.tar.gz"]
    sources = []
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        sources.append(tmp_path / name)
    result = save_uploads(sources, settings)
    assert [name for name, _ in result.rejected] == names and not result.articles
    assert all("is not accepted" in reason for _, reason in result.rejected)
    assert not files_under(uploads_dir(settings))


def test_oversize_file_is_rejected_and_leaves_nothing(tmp_path, settings):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 20_000)
    result = save_uploads([big], settings)
    assert result.rejected == [("big.txt", "larger than the 0.01 MB limit")]
    assert not files_under(uploads_dir(settings))


def test_zip_is_extracted_into_its_own_folder_with_sidecars(tmp_path, settings):
    archive = make_zip(tmp_path / "Press review.zip", {
        "fr/article.txt": ARTICLE, "fr/article.meta.yaml": "title: Un article\nlanguage: fr\n", "fr/": b"", "notes.docx": b"x",
    })
    result = save_uploads([archive], settings)
    folder = uploads_dir(settings) / "Press_review" / "fr"
    assert result.articles == [folder / "article.txt"]
    assert (folder / "article.meta.yaml").read_text(encoding="utf-8").startswith("title: Un article")
    assert result.rejected == [("Press review.zip: notes.docx", "type '.docx' is not accepted (allowed: .txt, .md, .markdown, .html, .htm, .pdf, .zip)")]


@pytest.mark.parametrize("member", ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt", "..\\escape.txt", "C:/escape.txt", "ok/../../../escape.txt"])
def test_zip_members_escaping_the_folder_are_rejected(tmp_path, settings, member):
    archive = make_zip(tmp_path / "trav.zip", {member: ARTICLE, "fine.txt": ARTICLE})
    result = save_uploads([archive], settings)
    assert result.rejected == [(f"trav.zip: {member}", "path points outside the upload folder")]
    assert result.articles == [uploads_dir(settings) / "trav" / "fine.txt"]
    assert_only_in_uploads(tmp_path, settings, {archive})
    assert not any(p.name == "escape.txt" for p in files_under(tmp_path))


def test_zip_symlinks_hidden_and_encrypted_members_are_rejected(tmp_path, settings):
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as archive:
        link = zipfile.ZipInfo("link.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("__MACOSX/._a.txt", "x")
        archive.writestr(".git/config.txt", "x")
        archive.writestr("secret.txt", "x")
    mark_encrypted(path, "secret.txt")
    reasons = dict(save_uploads([path], settings).rejected)
    assert reasons == {
        "odd.zip: link.txt": "symbolic links are not accepted",
        "odd.zip: __MACOSX/._a.txt": "hidden or system file",
        "odd.zip: .git/config.txt": "hidden or system file",
        "odd.zip: secret.txt": "encrypted members are not accepted",
    }
    assert not files_under(uploads_dir(settings))


def test_zip_bomb_member_over_the_file_limit_is_not_extracted(tmp_path, settings):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("bomb.txt", "w") as member:
        for _ in range(20):
            member.write(b"\0" * (1 << 20))  # 20 MB of zeros, ~20 KB compressed
    assert path.stat().st_size < 100_000
    result = save_uploads([path], settings)
    assert result.rejected == [("bomb.zip: bomb.txt", "larger than the 0.01 MB limit")]
    assert not files_under(uploads_dir(settings))


def test_zip_with_too_much_uncompressed_data_in_total_is_rejected_whole(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(uploads, "ZIP_MAX_TOTAL_MB", 0.02)  # 20 KB in all; each member is under the 10 KB file limit
    archive = make_zip(tmp_path / "many.zip", {f"a{i}.txt": "x" * 8000 for i in range(3)})
    result = save_uploads([archive], settings)
    assert result.rejected == [("many.zip", "unpacks to more than 0.02 MB")] and not result.articles
    assert not files_under(uploads_dir(settings))


def test_zip_with_too_many_members_is_rejected_whole(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(uploads, "ZIP_MAX_MEMBERS", 5)
    archive = make_zip(tmp_path / "swarm.zip", {f"a{i}.txt": "x" for i in range(6)})
    assert save_uploads([archive], settings).rejected == [("swarm.zip", "holds 6 files; the limit is 5")]
    assert not files_under(uploads_dir(settings))


def test_zip_whose_headers_understate_the_size_is_cut_off(tmp_path, settings):
    """A member claiming 100 bytes that inflates to 1 MB is never written beyond what it claims."""
    path = make_zip(tmp_path / "liar.zip", {"liar.txt": b"a" * (1 << 20)})
    data = bytearray(path.read_bytes())
    real = (1 << 20).to_bytes(4, "little")
    for offset in (data.find(real), data.rfind(real)):  # local header and central directory sizes
        data[offset:offset + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    result = save_uploads([path], settings)
    assert result.rejected == [("liar.zip: liar.txt", "cannot be unpacked (BadZipFile)")]
    assert not files_under(uploads_dir(settings))


def test_write_limit_is_enforced_while_streaming(tmp_path):
    target = tmp_path / "out.txt"
    stream = iter([b"x" * 600, b"x" * 600, b""])
    with pytest.raises(uploads._TooLarge):
        uploads._write_limited(lambda _: next(stream), target, 1000)
    assert not list(tmp_path.iterdir())


def test_a_symlink_planted_in_uploads_cannot_redirect_writes(tmp_path, settings):
    outside = tmp_path / "outside"
    outside.mkdir()
    uploads_dir(settings).mkdir(parents=True)
    os.symlink(outside, uploads_dir(settings) / "planted")
    archive = make_zip(tmp_path / "planted.zip", {"a.txt": ARTICLE})
    result = save_uploads([archive], settings)
    assert result.rejected == [("planted.zip: a.txt", "path points outside the upload folder")]
    assert not list(outside.iterdir())


def test_not_a_zip(tmp_path, settings):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK not really")
    assert save_uploads([fake], settings).rejected == [("fake.zip", "not a readable zip file")]


def test_remove_upload_deletes_only_inside_uploads(tmp_path, settings):
    source = tmp_path / "a.txt"
    source.write_text(ARTICLE, encoding="utf-8")
    (saved,) = save_uploads([source], settings).articles
    saved.with_name("a.meta.yaml").write_text("title: A\n", encoding="utf-8")
    assert remove_upload(saved, settings) and not files_under(uploads_dir(settings))
    assert not remove_upload(source, settings) and source.exists()
