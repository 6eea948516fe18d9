from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.stores import codecs
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets.stores.protocols import ArtifactNotFound, IntegrityError


def test_put_is_content_addressed_and_never_overwrites(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    first = store.put("reports", None, b"version one", ".json", run_id="run-1")
    second = store.put("reports", None, b"version two", ".json", run_id="run-2")
    assert first.sha256 == sha256_hex(b"version one")
    assert Path(first.uri.removeprefix("file://")).name == f"{first.sha256}.json"
    assert store.read(first) == b"version one" and store.read(second) == b"version two"
    assert store.latest("reports") == second
    assert [ref.sha256 for ref in store.versions("reports")] == [first.sha256, second.sha256]
    assert store.find("reports", first.sha256[:10]).sha256 == first.sha256
    mode = os.stat(first.uri.removeprefix("file://")).st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # read-only on disk


def test_partitions_are_kept_apart(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put("scored", "batch/1", b"a", ".json", "r")
    store.put("scored", "batch 2", b"b", ".json", "r")
    assert store.read(store.latest("scored", "batch/1")) == b"a"
    assert store.latest("scored") is None


def test_an_altered_artifact_fails_naming_the_asset_and_both_hashes(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    ref = store.put("validated_reports", None, b"the original bytes", ".parquet", "run")
    path = Path(ref.uri.removeprefix("file://"))
    path.chmod(0o644)
    path.write_bytes(b"the original byteZ")  # one byte changed
    with pytest.raises(IntegrityError) as raised:
        store.read(ref)
    message = str(raised.value)
    assert "validated_reports" in message and ref.sha256 in message and sha256_hex(b"the original byteZ") in message
    with pytest.raises(IntegrityError):  # writing the same content again does not paper over the damage
        store.put("validated_reports", None, b"the original bytes", ".parquet", "run-2")


def test_missing_and_unknown_versions(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    ref = store.put("a", None, b"x", ".json", "r")
    with pytest.raises(ArtifactNotFound):
        store.find("a", "0" * 64)
    Path(ref.uri.removeprefix("file://")).unlink()
    with pytest.raises(ArtifactNotFound):
        store.read(ref)


def test_the_index_survives_a_new_store_object(tmp_path: Path) -> None:
    ref = LocalArtifactStore(tmp_path).put("a", None, b"x", ".json", "r")
    assert LocalArtifactStore(tmp_path).latest("a") == ref


def test_codecs_give_equal_bytes_for_equal_values_and_open_without_our_code(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": pd.Series(["a", None], dtype=object), "n": [1, 2], "raw": [b"\x00\xff", b"x"]})
    payload, suffix = codecs.encode(frame)
    assert suffix == ".parquet" and payload == codecs.encode(frame.copy())[0]
    pd.testing.assert_frame_equal(codecs.decode(payload, suffix), frame)

    matrix = sp.random(20, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
    arrays = {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "shape": np.array(matrix.shape),
        "format": np.array("csr"),
    }
    payload, suffix = codecs.encode(arrays)
    assert suffix == ".npz" and payload == codecs.encode(dict(arrays))[0]
    (tmp_path / "m.npz").write_bytes(payload)
    assert (sp.load_npz(tmp_path / "m.npz") != matrix).nnz == 0  # scipy opens it as its own format
    with np.load(tmp_path / "m.npz", allow_pickle=False) as loaded:
        assert set(loaded.files) == set(arrays)

    payload, suffix = codecs.encode({"b": 1, "a": [1.5]})
    assert suffix == ".json" and codecs.decode(payload, suffix) == {"a": [1.5], "b": 1}


def test_npz_members_are_stored_and_deflated_artifacts_stay_readable() -> None:
    """Arrays are kept uncompressed (deflating was most of the cost of keeping a feature matrix); artifacts written
    deflated before that, as numpy's savez_compressed writes them, decode to the same arrays."""
    arrays = {"data": np.arange(1000, dtype=np.float32), "ids": np.array(["r1", "r2"]), "shape": np.array([2, 500])}
    payload, _ = codecs.encode(arrays)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    deflated = io.BytesIO()
    np.savez_compressed(deflated, **arrays)
    with zipfile.ZipFile(io.BytesIO(deflated.getvalue())) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    for stored in (payload, deflated.getvalue()):
        decoded = codecs.decode(stored, ".npz")
        assert set(decoded) == set(arrays)
        for name, array in arrays.items():
            assert decoded[name].dtype == array.dtype and np.array_equal(decoded[name], array)


def test_codecs_refuse_what_only_pickle_could_store() -> None:
    with pytest.raises(codecs.UnsupportedArtifact):
        codecs.encode(object())
    with pytest.raises(codecs.UnsupportedArtifact, match="dtype object"):
        codecs.encode({"ids": np.array(["a", None], dtype=object)})


def test_put_file_copies_and_hashes_a_file_in_one_pass_and_verifies_on_read(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "home")
    source = tmp_path / "batch.csv"
    payload = os.urandom(3 * (1 << 20) + 17)  # several copy blocks and a partial one
    source.write_bytes(payload)
    ref = store.put_file("incoming_reports/files", "b1", source, ".csv", "run-1")
    assert ref.sha256 == sha256_hex(payload) and ref.size == len(payload)
    path = store.local_path(ref)
    assert path.read_bytes() == payload and not os.stat(path).st_mode & stat.S_IWUSR
    again = store.put_file("incoming_reports/files", "b1", source, ".csv", "run-2")
    assert again.sha256 == ref.sha256 and len(store.versions("incoming_reports/files")) == 2
    assert [item.name for item in path.parent.iterdir()] == [path.name]  # no staged copy left behind
    os.chmod(path, 0o644)
    path.write_bytes(payload[:-1] + bytes([payload[-1] ^ 0xFF]))  # one byte changed
    with pytest.raises(IntegrityError, match="incoming_reports/files"):
        store.local_path(ref)


def test_npz_members_are_what_numpy_itself_writes() -> None:
    """Byte for byte the members ``np.save`` writes, 0-d, 2-d, Fortran-ordered, text and boolean arrays alike."""
    arrays = {
        "scalar": np.array("csr"),
        "matrix": np.arange(12, dtype=np.int64).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "ids": np.array(["ade-1", "ade-22"]),
        "mask": np.array([True, False]),
    }
    payload, _ = codecs.encode(arrays)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for name, array in arrays.items():
            expected = io.BytesIO()
            np.save(expected, np.ascontiguousarray(array) if array.ndim else array, allow_pickle=False)
            assert archive.read(f"{name}.npy") == expected.getvalue(), name
    decoded = codecs.decode(payload, ".npz")
    for name, array in arrays.items():
        assert decoded[name].shape == array.shape and np.array_equal(decoded[name], array)
