"""One contract per store protocol, run against both backends (``backend_name``: local files + SQLite, and aws on a
moto server over HTTP with a stack provisioned from deploy/). Stores come from gxp_assets.stores, the one mapping
from GXP_ENV, so what is tested is what the pipeline and the CLI get. Tampering differs per backend (a file on disk,
an S3 object or DynamoDB item written around the store) and is done by the helpers below."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gxp_assets import stores
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.governance.audit import GENESIS_HASH
from gxp_assets.governance.registry import IllegalTransition, State
from gxp_assets.stores.notifier import Notification, outbox
from gxp_assets.stores.protocols import ArtifactNotFound, ArtifactRef, IntegrityError
from gxp_assets_tests.aws_server import sent_mail

USE_CASE = "ae_triage"
OTHER_USE_CASE = "dissolution_risk"


def _alter(ref: ArtifactRef, payload: bytes) -> None:
    """Replace the stored bytes behind the store's back (an S3 PUT without the store's If-None-Match)."""
    if ref.uri.startswith("file://"):
        path = Path(ref.uri.removeprefix("file://"))
        path.chmod(0o644)
        path.write_bytes(payload)
        return
    from gxp_assets.stores.aws_session import aws_context

    bucket, _, key = ref.uri.removeprefix("s3://").partition("/")
    aws_context().client("s3").put_object(Bucket=bucket, Key=key, Body=payload)


# --- artifacts ---------------------------------------------------------------------------------------------------


def test_artifacts_are_content_addressed_verified_and_never_overwritten(backend_name: str) -> None:
    store = stores.artifact_store()
    first = store.put("reports", None, b"version one", ".json", run_id="run-1")
    second = store.put("reports", None, b"version two", ".json", run_id="run-2")
    again = store.put("reports", None, b"version one", ".json", run_id="run-3")
    assert first.sha256 == again.sha256 == sha256_hex(b"version one") and first.uri.endswith(f"{first.sha256}.json")
    assert store.read(first) == b"version one" and store.read(second) == b"version two"
    assert store.latest("reports") == again
    assert [ref.run_id for ref in store.versions("reports")] == ["run-1", "run-2", "run-3"]
    assert store.find("reports", second.sha256[:10]) == second
    with pytest.raises(ArtifactNotFound):
        store.find("reports", "0" * 64)
    assert store.local_path(second).read_bytes() == b"version two"


def test_partitions_are_kept_apart(backend_name: str) -> None:
    store = stores.artifact_store()
    store.put("scored", "batch/1", b"a", ".json", "r")
    store.put("scored", "batch 2", b"b", ".json", "r")
    assert store.read(store.latest("scored", "batch/1")) == b"a"
    assert store.latest("scored") is None
    assert [ref.partition for ref in store.versions("scored", "batch 2")] == ["batch 2"]
    assert len(store.versions()) == 2


def test_the_latest_version_a_run_stored_is_found_by_its_run_id(backend_name: str) -> None:
    store = stores.artifact_store()
    mine = store.put("ae/report_features", None, b"run A, first", ".npz", "run-A")
    mine_again = store.put("ae/report_features", None, b"run A, second", ".npz", "run-A")
    store.put("ae/report_features", "batch-1", b"run A, a partition", ".npz", "run-A")
    store.put("ae/report_features_x", None, b"run A, another asset", ".npz", "run-A")
    theirs = store.put("ae/report_features", None, b"run B, stored last", ".npz", "run-B")
    assert mine.sha256 != mine_again.sha256
    assert store.latest("ae/report_features", run_id="run-A") == mine_again  # not run B's, stored after it
    assert store.latest("ae/report_features") == theirs
    assert store.latest("ae/report_features", "batch-1", run_id="run-A").partition == "batch-1"
    assert store.latest("ae/report_features", "batch-2", run_id="run-A") is None
    assert store.latest("ae/report_features", run_id="run-C") is None
    assert store.latest("ae/report_features_x", run_id="run-B") is None
    # however a version is found, it is the same version: versions() lists each once
    assert [ref.run_id for ref in store.versions("ae/report_features")] == ["run-A", "run-A", "run-A", "run-B"]
    assert len(store.versions()) == 5


def test_an_altered_artifact_fails_naming_the_asset_and_both_hashes(backend_name: str) -> None:
    store = stores.artifact_store()
    ref = store.put("validated_reports", None, b"the original bytes", ".parquet", "run")
    _alter(ref, b"the original byteZ")
    with pytest.raises(IntegrityError) as raised:
        store.read(ref)
    assert ref.sha256 in str(raised.value) and sha256_hex(b"the original byteZ") in str(raised.value)
    assert "validated_reports" in str(raised.value)
    with pytest.raises(IntegrityError):  # writing the same content again does not paper over the damage
        store.put("validated_reports", None, b"the original bytes", ".parquet", "run-2")
    with pytest.raises(IntegrityError):
        store.local_path(ref)


def test_put_file_keeps_a_copy_of_a_regular_file_and_refuses_a_link(backend_name: str, tmp_path: Path) -> None:
    source = tmp_path / "model.txt"
    source.write_bytes(b"tree\n" * 1000)
    store = stores.artifact_store()
    ref = store.put_file("classifier", None, source, ".txt", "run")
    source.write_bytes(b"changed afterwards")
    assert ref.size == 5000 and store.read(ref) == b"tree\n" * 1000
    link = tmp_path / "link.txt"
    link.symlink_to(source)
    with pytest.raises(ValueError, match="refused"):
        store.put_file("classifier", None, link, ".txt", "run")


# --- audit trail ---------------------------------------------------------------------------------------------------


def test_the_audit_trail_chains_entries_and_verifies(backend_name: str) -> None:
    trail = stores.audit_trail()
    assert trail.head() is None and trail.verify() == []
    first = trail.append("alice", "materialization", "classifier", {"sha256": "ab" * 32})
    second = trail.append("system", "alarm", "drift", {"psi": 0.3})
    assert (first.seq, first.prev_hash, second.prev_hash) == (1, GENESIS_HASH, first.entry_hash)
    assert trail.head() == second and trail.entries() == [first, second]
    assert trail.verify([second.anchor]) == []
    assert trail.verify([(3, "f" * 64)])  # an anchor the trail does not hold: a truncation


def test_concurrent_appenders_keep_one_chain_without_losing_an_entry(backend_name: str) -> None:
    trails = [stores.audit_trail() for _ in range(4)]
    start = threading.Barrier(len(trails))
    errors: list[BaseException] = []

    def append_many(worker: int) -> None:
        try:
            start.wait()
            for i in range(8):
                trails[worker].append(f"worker-{worker}", "alarm", "race", {"worker": worker, "i": i})
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=append_many, args=(worker,)) for worker in range(len(trails))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    entries = stores.audit_trail().entries()
    assert [entry.seq for entry in entries] == list(range(1, 33))
    for worker in range(len(trails)):
        assert [e.details["i"] for e in entries if e.details["worker"] == worker] == list(range(8))
    assert stores.audit_trail().verify() == []


# --- registry --------------------------------------------------------------------------------------------------


def _register(version: str, use_case: str = USE_CASE) -> None:
    stores.registry().register(version, use_case, {"use_case": use_case, "version": version}, "alice")


def _promote(version: str) -> None:
    for state in (State.PENDING_APPROVAL, State.APPROVED, State.ACTIVE):
        stores.registry().transition(version, state, "quinn", f"to {state}")


def test_the_registry_allows_only_legal_transitions_and_keeps_history(backend_name: str) -> None:
    registry = stores.registry()
    _register("v1")
    with pytest.raises(IllegalTransition, match="v1 is CANDIDATE; it cannot become ACTIVE"):
        registry.transition("v1", State.ACTIVE, "mallory", "skip the approvals")
    _promote("v1")
    registry.transition("v1", State.RETIRED, "quinn", "done")
    assert [(t.from_state, t.to_state) for t in registry.history("v1")] == [
        (None, State.CANDIDATE), (State.CANDIDATE, State.PENDING_APPROVAL), (State.PENDING_APPROVAL, State.APPROVED),
        (State.APPROVED, State.ACTIVE), (State.ACTIVE, State.RETIRED),
    ]  # fmt: skip
    assert registry.active(USE_CASE) is None
    with pytest.raises(LookupError):
        registry.transition("nobody", State.APPROVED, "quinn", "no such version")


def test_one_active_version_per_use_case_and_records_never_change(backend_name: str) -> None:
    registry = stores.registry()
    _register("v1")
    _register("v2")
    _promote("v1")
    _promote("v2")
    assert registry.get("v1").state == State.RETIRED and registry.active(USE_CASE).version == "v2"
    again = registry.register("v1", USE_CASE, {"use_case": USE_CASE, "version": "v1", "rerun": 2}, "bob")
    assert again.record == {"use_case": USE_CASE, "version": "v1"}
    assert [model.version for model in registry.versions(USE_CASE)] == ["v1", "v2"]


def test_each_use_case_keeps_its_own_active_version(backend_name: str) -> None:
    registry = stores.registry()
    _register("a1")
    _register("d1", OTHER_USE_CASE)
    _register("a2")
    _promote("a1")
    _promote("d1")
    assert registry.active(USE_CASE).version == "a1" and registry.active(OTHER_USE_CASE).version == "d1"
    _promote("a2")  # retires a1, not the other use case's ACTIVE version
    assert registry.get("a1").state == State.RETIRED and registry.active(USE_CASE).version == "a2"
    assert registry.get("d1").state == State.ACTIVE and registry.active(OTHER_USE_CASE).version == "d1"
    assert [model.version for model in registry.versions(OTHER_USE_CASE)] == ["d1"]


def test_signatures_are_stored_once_and_roles_approvals_kept(backend_name: str) -> None:
    registry = stores.registry()
    _register("v1")
    registry.add_signature("v1", {"signature_id": "s-1", "meaning": "approval"})
    with pytest.raises(Exception, match=r"s-1|UNIQUE"):  # a replayed signature id is refused
        registry.add_signature("v1", {"signature_id": "s-1", "meaning": "approval"})
    registry.add_roles_approval({"roles_sha256": "ab" * 32, "by": "admin"})
    assert registry.signatures("v1") == [{"signature_id": "s-1", "meaning": "approval"}]
    assert registry.signatures("v2") == [] and registry.roles_approvals()[0]["by"] == "admin"


def test_governance_audits_every_transition(backend_name: str) -> None:
    governance = stores.open_governance()
    _register("v1")
    governance._transition("v1", State.PENDING_APPROVAL, "alice", "criteria met")
    entry = governance.audit.head()
    assert (entry.action, entry.subject, entry.details["to"]) == ("transition", "v1", "PENDING_APPROVAL")
    assert governance.registry.get("v1").state == State.PENDING_APPROVAL


# --- notifier --------------------------------------------------------------------------------------------------


def _delivered(backend_name: str, endpoint: str | None) -> list[str]:
    """Subjects of what people received: outbox files locally, SES mail on aws."""
    if backend_name == "local":
        return [message["subject"] for message in outbox()]
    return [mail["subject"] for mail in sent_mail(str(endpoint))]


def test_a_notification_reaches_people_once_per_dedupe_key(backend_name: str, request: pytest.FixtureRequest) -> None:
    endpoint = request.getfixturevalue("moto_endpoint") if backend_name == "aws" else None
    before = len(_delivered(backend_name, endpoint))
    notifier = stores.notifier()
    message = Notification(kind="priority_reports", subject=f"3 PRIORITY {backend_name}", body="due in 4 days",
                           payload={"reports": ["r1", "r2", "r3"]}, dedupe_key=f"batch-1-{id(notifier)}")  # fmt: skip
    notifier.send(message)
    assert "already sent" in notifier.send(message)
    delivered = _delivered(backend_name, endpoint)[before:]
    assert len([subject for subject in delivered if subject.endswith(message.subject)]) == 1
