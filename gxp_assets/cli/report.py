"""`gxp report`: a model version's validation report, inspection-ready: a document id and version, who generated it
and when, the inputs, and the verdict of the point-of-use verification at the moment of generation; audited."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from gxp_assets.cli.common import EXIT_OK, CliError, write_output
from gxp_assets.cli.signing import registered
from gxp_assets.governance.service import Governance
from gxp_assets.stores import open_governance
from gxp_assets.stores.local import default_home

REPORT_ACTION = "report_generated"


def _demo_fingerprints() -> frozenset[str]:
    """Keys of the DEMO-ONLY roles file `gxp demo` writes, so that a page they signed says DEMO."""
    from gxp_assets.governance.roles import load_roles
    from gxp_assets.governance.signatures import key_fingerprint

    path = default_home() / "demo-only" / "roles-DEMO-ONLY.yaml"
    if not path.is_file():
        return frozenset()
    return frozenset(key_fingerprint(user.key()) for user in load_roles(path).users)


def _recorded(record: dict, asset: str) -> tuple[object | None, str | None]:
    """The version of ``asset`` the model record names, decoded (hash-verified); None when absent."""
    from gxp_assets.stores import artifact_store, codecs

    store = artifact_store()
    version = (record.get("lineage", {}).get("assets", {}).get(asset) or {}).get("data_version")
    ref = store.find(asset, version) if version else None
    return (codecs.decode(store.read(ref), ref.suffix), version) if ref else (None, version)


def _inputs(record: dict) -> tuple[tuple[tuple[str, int], ...], str | None, tuple[tuple[str, int], ...]]:
    """Input files with record counts, the stored input's hash, quarantine counts by reason (from the lineage)."""
    intake, intake_sha = _recorded(record, "labelled_reports")
    held, _ = _recorded(record, "quarantined_reports")
    per_file = intake["source_file"].value_counts().sort_index() if intake is not None else None
    files = () if per_file is None else tuple((str(name), int(count)) for name, count in per_file.items())
    reasons = () if held is None or held.empty else tuple(
        (str(name), int(count)) for name, count in held["reason"].value_counts().items())  # fmt: skip
    return files, intake_sha, reasons


def _intervals(record: dict) -> tuple[dict, ...]:
    """Test-split metrics with document-bootstrap intervals, rescored from the artifacts the record names."""
    from gxp_assets.core.bootstrap import document_bootstrap
    from gxp_assets.core.features import FeatureMatrix
    from gxp_assets.core.scoring import TriageModel
    from gxp_assets.core.splits import split_rows

    found = {name: _recorded(record, name)[0] for name in
             ("report_features", "dataset_splits", "ae_classifier", "conformal_model")}  # fmt: skip
    if any(value is None for value in found.values()):
        return ()
    X, labels, part = split_rows(FeatureMatrix.from_arrays(found["report_features"]), found["dataset_splits"], "test")
    scored = TriageModel.from_records(found["ae_classifier"], found["conformal_model"]).score(
        X, part["source"].to_numpy())  # fmt: skip
    return tuple(document_bootstrap(part["split_group"].to_numpy(), labels, scored.p_ae, scored.triage))


def generation_context(governance: Governance, version: str, record_hash: str, user: str):
    """Everything the page knows only now; the document version counts earlier reports of the same record."""
    from gxp_assets.governance.validation_report import GenerationContext, document_id

    doc = document_id(version, record_hash)
    earlier = [
        e for e in governance.audit.entries() if e.action == REPORT_ACTION and e.details.get("document_id") == doc
    ]
    verdict = governance.verify(version)
    files, input_sha, reasons = _inputs(governance.registry.get(version).record)
    return GenerationContext(
        document_id=doc,
        document_version=len(earlier) + 1,
        generated_by=user,
        verified=verdict.ok,
        failures=tuple(verdict.failures),
        valid_signature_ids=frozenset(s.signature_id for s in governance.approval_status(version).valid),
        demo_fingerprints=_demo_fingerprints(),
        input_files=files,
        input_sha256=input_sha,
        quarantine_reasons=reasons,
        intervals=_intervals(governance.registry.get(version).record),
    )


def cmd_report(args: argparse.Namespace) -> int:
    """The validation report of a model version: one self-contained HTML page, for reviewers and inspectors."""
    from gxp_assets.core.hashing import sha256_hex
    from gxp_assets.defs.provenance import current_user
    from gxp_assets.governance.validation_report import render_validation_report
    from gxp_assets.stores import artifact_store, codecs

    out = Path(args.out)
    if not out.parent.is_dir():  # before minutes of rescoring, not after
        raise CliError(f"cannot write {out}: folder {out.parent} does not exist")
    governance, store = open_governance(), artifact_store()
    model = registered(governance, args.version)
    evaluation_ref = store.find(
        "model_evaluation", model.record["lineage"]["assets"]["model_evaluation"]["data_version"]
    )
    evaluation = codecs.decode(store.read(evaluation_ref), evaluation_ref.suffix)
    plots = {
        name: store.read(store.find(f"model_evaluation/plots/{name}", sha256))
        for name, sha256 in evaluation.get("plots", {}).items()
    }
    history = [
        {"from_state": t.from_state, "to_state": t.to_state, "actor": t.actor, "reason": t.reason, "at": t.at}
        for t in governance.registry.history(args.version)
    ]
    user = args.user or current_user()
    context = generation_context(governance, args.version, model.record_hash, user)
    page = render_validation_report(
        model.record,
        model.record_hash,
        str(model.state),
        history,
        governance.registry.signatures(args.version),
        evaluation,
        plots,
        datetime.now(UTC),
        context,
    )
    out = write_output(args.out, page)
    governance.audit.append(user, REPORT_ACTION, args.version, {
        "document_id": context.document_id, "document_version": context.document_version, "file": str(out),
        "sha256": sha256_hex(page.encode("utf-8")), "verified": context.verified})  # fmt: skip
    print(f"validation report {context.document_id} version {context.document_version} of {args.version} "
          f"({model.state}; verification: {'every control verified' if context.verified else 'FAILED'}) "
          f"written to {out}")  # fmt: skip
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write a model version's validation report (self-contained HTML)")
    report.add_argument("version", help="model version, as `gxp registry list` shows it")
    report.add_argument("--out", required=True, help="HTML file to write")
    report.add_argument("--user", help="who generates it, printed on the page (default: GXP_USER or your login)")
    report.set_defaults(handler=cmd_report)
