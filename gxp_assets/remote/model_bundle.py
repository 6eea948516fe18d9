"""The model folder a serving container gets (``/opt/ml/model``): a version's artifacts as the store keeps them.

``deployment.json`` names the version and its record hash; each artifact the record names is a file
``<asset><suffix>`` in the project's stored form (the classifier's text, JSON records). The folder is packed as
SageMaker wants it, a ``model.tar.gz``, byte for byte the same for the same version (fixed times and order), so a
re-deployment finds what it made before.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping

from gxp_assets.governance.verification import MODEL_ARTIFACTS
from gxp_assets.stores import codecs

MANIFEST_FILE = "deployment.json"


def bundle_files(version: str, record_hash: str, artifacts: Mapping[str, object]) -> dict[str, bytes]:
    """The folder's files for ``version``: its (already verified) artifacts and the manifest."""
    files = {}
    for asset, _ in MODEL_ARTIFACTS:
        if asset in artifacts:
            payload, suffix = codecs.encode(artifacts[asset])
            files[asset + suffix] = payload
    manifest = {"version": version, "record_hash": record_hash, "artifacts": sorted(files)}
    files[MANIFEST_FILE] = (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()
    return files


def bundle_artifacts(files: Mapping[str, bytes]) -> dict[str, object]:
    """The artifacts back from a folder's files, by asset (what verification hashes)."""
    found: dict[str, object] = {}
    for name, payload in files.items():
        asset, dot, suffix = name.partition(".")
        if name != MANIFEST_FILE and asset in dict(MODEL_ARTIFACTS):
            found[asset] = codecs.decode(payload, dot + suffix)
    return found


def bundle_archive(files: Mapping[str, bytes]) -> bytes:
    """``model.tar.gz`` of the files: sorted, time 0, owner 0, so equal files give equal bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)
