"""`gxp report`: a model version's validation report, inspection-ready: a document id and version, who generated it
and when, the inputs, and the verdict of the point-of-use verification at the moment of generation; audited.

The document itself is made in governance/validation_document.py; this module reads what the governance layer does
not (the evaluation and its plots from the artifact store, the intervals rescored by core functions), so the console's
version page generates the same document through ``generate_report``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from gxp_assets.cli.common import EXIT_OK, CliError, write_output
from gxp_assets.cli.signing import registered
from gxp_assets.governance.recorded_assets import recorded_asset
from gxp_assets.governance.service import Governance
from gxp_assets.governance.validation_document import ValidationDocument, record_generation, validation_report
from gxp_assets.stores import open_governance
from gxp_assets.stores.local import default_home


def demo_fingerprints() -> frozenset[str]:
    """Keys of the DEMO-ONLY roles file `gxp demo` writes, so that a page they signed says DEMO."""
    from gxp_assets.governance.roles import load_roles
    from gxp_assets.governance.signatures import key_fingerprint

    path = default_home() / "demo-only" / "roles-DEMO-ONLY.yaml"
    if not path.is_file():
        return frozenset()
    return frozenset(key_fingerprint(user.key()) for user in load_roles(path).users)


def _intervals(governance: Governance, record: dict) -> tuple[dict, ...]:
    """Test-split metrics with document-bootstrap intervals, rescored from the artifacts the record names."""
    from gxp_assets.core.bootstrap import document_bootstrap
    from gxp_assets.core.features import FeatureMatrix
    from gxp_assets.core.scoring import TriageModel
    from gxp_assets.core.splits import split_rows

    names = ("report_features", "dataset_splits", "ae_classifier", "conformal_model")
    recorded = {name: recorded_asset(record, name) for name in names}
    if governance.load_artifact is None or not all(version for _, version in recorded.values()):
        return ()
    found = {name: governance.load_artifact(stored, str(version)) for name, (stored, version) in recorded.items()}
    X, labels, part = split_rows(FeatureMatrix.from_arrays(found["report_features"]), found["dataset_splits"], "test")
    scored = TriageModel.from_records(found["ae_classifier"], found["conformal_model"]).score(
        X, part["source"].to_numpy())  # fmt: skip
    return tuple(document_bootstrap(part["split_group"].to_numpy(), labels, scored.p_ae, scored.triage))


def generate_report(governance: Governance, version: str, user: str) -> ValidationDocument:
    """The validation report of ``version`` generated now by ``user`` (not yet audited: the caller knows where the
    page goes): the one path of `gxp report` and the console."""
    from gxp_assets.stores import artifact_store, codecs

    store = artifact_store()
    model = registered(governance, version)
    stored, data_version = recorded_asset(model.record, "model_evaluation")
    evaluation_ref = store.find(stored, str(data_version))
    evaluation = codecs.decode(store.read(evaluation_ref), evaluation_ref.suffix)
    plots = {
        name: store.read(store.find(f"{stored}/plots/{name}", sha256))
        for name, sha256 in evaluation.get("plots", {}).items()
    }
    return validation_report(governance, version, user, datetime.now(UTC), evaluation, plots, demo_fingerprints(),
                             _intervals(governance, model.record))  # fmt: skip


def cmd_report(args: argparse.Namespace) -> int:
    """The validation report of a model version: one self-contained HTML page, for reviewers and inspectors."""
    from gxp_assets.defs.provenance import current_user

    out = Path(args.out)
    if not out.parent.is_dir():  # before minutes of rescoring, not after
        raise CliError(f"cannot write {out}: folder {out.parent} does not exist")
    governance = open_governance()
    user = args.user or current_user()
    document = generate_report(governance, args.version, user)
    out = write_output(args.out, document.page)
    record_generation(governance, document, user, str(out))
    context = document.context
    print(f"validation report {context.document_id} version {context.document_version} of {args.version} "
          f"({document.state}; verification: {'every control verified' if context.verified else 'FAILED'}) "
          f"written to {out}")  # fmt: skip
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write a model version's validation report (self-contained HTML)")
    report.add_argument("version", help="model version, as `gxp registry list` shows it")
    report.add_argument("--out", required=True, help="HTML file to write")
    report.add_argument("--user", help="who generates it, printed on the page (default: GXP_USER or your login)")
    report.set_defaults(handler=cmd_report)
