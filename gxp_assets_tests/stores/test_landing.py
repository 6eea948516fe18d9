"""The landing zone takes settled files only, and finds a batch file again by its partition key."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gxp_assets.core.hashing import sha256_file
from gxp_assets.stores.landing import ADJUDICATIONS, REPORTS, LocalLandingZone, batch_key


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_only_settled_contract_files_are_taken(tmp_path: Path) -> None:
    zone = LocalLandingZone(tmp_path, settle_seconds=10)
    folder = zone.folder(REPORTS)
    names = ["a.csv", "b.jsonl.part", ".hidden.csv", "notes.txt", "fresh.csv", "c.parquet"]
    for name in names:
        (folder / name).write_text("report_id\n")
    for name in names:
        if name != "fresh.csv":
            _age(folder / name, 60)
    ready, waiting = zone.scan(REPORTS)
    assert [file.name for file in ready] == ["a.csv", "c.parquet"]
    assert "still being written" in waiting["b.jsonl.part"]
    assert "settle" in waiting["fresh.csv"]
    assert "unsupported" in waiting["notes.txt"]
    assert ".hidden.csv" not in waiting
    _age(folder / "fresh.csv", 60)
    assert "fresh.csv" in [file.name for file in zone.scan(REPORTS)[0]]


def test_a_batch_key_finds_its_file_while_the_content_is_unchanged(tmp_path: Path) -> None:
    zone = LocalLandingZone(tmp_path)
    path = zone.folder(REPORTS) / "batch 2026-11-26 (social).csv"
    path.write_text("report_id,text\nr1,hello\n")
    key = batch_key(path.name, sha256_file(path))
    assert key.startswith("batch_2026-11-26_social_.csv-") and " " not in key
    assert zone.locate(key) == path
    path.write_text("report_id,text\nr1,changed\n")
    with pytest.raises(FileNotFoundError, match="content changed"):
        zone.locate(key)


def test_reports_and_adjudications_are_separate_folders(tmp_path: Path) -> None:
    zone = LocalLandingZone(tmp_path, settle_seconds=0)
    (zone.folder(ADJUDICATIONS) / "labels.csv").write_text("report_id,label\n")
    assert zone.scan(REPORTS)[0] == []
    assert [file.name for file in zone.scan(ADJUDICATIONS)[0]] == ["labels.csv"]
    with pytest.raises(ValueError, match="no 'other' folder"):
        zone.folder("other")


def test_links_sub_folders_and_pipes_are_refused_and_never_followed(tmp_path: Path) -> None:
    from gxp_assets.stores.landing import REFUSED
    from gxp_assets.stores.local import LocalArtifactStore

    zone = LocalLandingZone(tmp_path / "landing", settle_seconds=0)
    folder = zone.folder(REPORTS)
    secret = tmp_path / "secret.csv"
    secret.write_text("report_id,text\nx,root:x:0:0\n")
    (folder / "link.csv").symlink_to(secret)
    (folder / "passwd.csv").symlink_to("/etc/passwd")
    (folder / "sub.csv").mkdir()
    (folder / "sub.csv" / "inner.csv").write_text("report_id\n")
    os.mkfifo(folder / "pipe.csv")
    (folder / "ok.csv").write_text("report_id\n")
    _age(folder / "ok.csv", 60)
    ready, waiting = zone.scan(REPORTS)
    assert [file.name for file in ready] == ["ok.csv"]
    assert "symbolic link" in waiting["link.csv"] and "/etc/passwd" in waiting["passwd.csv"]
    assert "sub-folder" in waiting["sub.csv"] and "regular" in waiting["pipe.csv"]
    assert all(waiting[name].startswith(REFUSED) for name in ("link.csv", "passwd.csv", "sub.csv", "pipe.csv"))
    with pytest.raises(FileNotFoundError):
        zone.locate(batch_key("link.csv", sha256_file(secret)))
    store = LocalArtifactStore(tmp_path / "home")
    for name in ("link.csv", "pipe.csv", "sub.csv"):
        with pytest.raises(ValueError, match="refused"):
            store.put_file("incoming_reports/files", "k", folder / name, ".csv", "run")
    assert store.versions() == []
