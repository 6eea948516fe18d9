"""The approver's inbox: versions awaiting approval beside the ACTIVE one, and signing through the CLI's one path
(governance.signing_as + Governance.submit_signature), so the console refuses exactly what `gxp approve` refuses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gxp_assets.console.auth import private_key_pem
from gxp_assets.governance.registry import ModelVersion, State
from gxp_assets.governance.service import Governance
from gxp_assets.governance.signatures import Meaning, Signature
from gxp_assets.governance.signing_as import sign_as
from gxp_assets.governance.validation_document import ValidationDocument, record_generation

#: What the sign form offers: the meanings `gxp approve` and `gxp reject` sign.
SIGN_MEANINGS = (Meaning.APPROVAL, Meaning.REVIEW, Meaning.REJECTION)


def approver_roles(governance: Governance) -> set[str]:
    """The roles any use case's plan in force asks signatures of: who may open the inbox (each signature is then
    judged under its model's own plan)."""
    return {str(required.role) for plan in governance.plans.values() for required in plan.plan.approvals.required}


def awaiting(governance: Governance) -> list[ModelVersion]:
    return [model for model in governance.registry.versions() if model.state == State.PENDING_APPROVAL]


#: Per-source figures shown side by side (the evaluation's subgroup table), in reading order.
SOURCE_FIGURES = ("n", "ae", "auroc", "ae_recall", "auto_close_share", "review_share", "priority_precision")


@dataclass(frozen=True)
class SourceRow:
    """One source's test-split figures in each version; None where the source is absent from that version's test
    split (a new channel, or one the ACTIVE version never saw)."""

    source: str
    mine: tuple[object, ...] | None
    theirs: tuple[object, ...] | None


@dataclass(frozen=True)
class Comparison:
    """A version's figures beside the ACTIVE version's: metrics, acceptance criteria and the per-source table.
    ``active`` is None when no version is ACTIVE (the first one), or when the version shown is the ACTIVE one."""

    active: str | None
    metrics: list[tuple[str, object, object]]
    criteria: list[tuple[str, object, object, bool, object, str]]
    sources: list[SourceRow]


def _numbers(record: dict) -> dict[str, float]:
    found = record.get("metrics", {}).items()
    return {k: v for k, v in found if isinstance(v, int | float) and not isinstance(v, bool)}


def _by_source(record: dict) -> dict[str, tuple[object, ...]]:
    rows = record.get("metrics", {}).get("subgroups") or []
    return {str(row["source"]): tuple(row.get(name) for name in SOURCE_FIGURES)
            for row in rows if isinstance(row, dict) and "source" in row}  # fmt: skip


def compare(candidate: ModelVersion, active: ModelVersion | None) -> Comparison:
    """The side-by-side view of the inbox; a figure only one side has shows as missing on the other."""
    if active is not None and active.version == candidate.version:
        active = None
    mine, theirs = candidate.record, active.record if active else {}
    ours_n, theirs_n = _numbers(mine), _numbers(theirs)
    names = [*ours_n, *(name for name in theirs_n if name not in ours_n)]
    metrics = [(name, ours_n.get(name), theirs_n.get(name)) for name in names]
    active_criteria = {c["name"]: c.get("measured") for c in theirs.get("acceptance", [])}
    criteria = [(c["name"], c.get("measured"), c.get("limit"), bool(c.get("passed")), active_criteria.get(c["name"]),
                 str(c.get("detail", ""))) for c in mine.get("acceptance", [])]  # fmt: skip
    ours_s, theirs_s = _by_source(mine), _by_source(theirs)
    sources = [SourceRow(source, ours_s.get(source), theirs_s.get(source))
               for source in sorted(set(ours_s) | set(theirs_s))]  # fmt: skip
    return Comparison(active.version if active else None, metrics, criteria, sources)


def validation_report(governance: Governance, version: str, user_id: str) -> ValidationDocument:
    """The validation report generated now by ``user_id`` through `gxp report`'s path, its generation audited."""
    from gxp_assets.cli.report import generate_report

    document = generate_report(governance, version, user_id)
    record_generation(governance, document, user_id, "review console")
    return document


def sign_version(
    governance: Governance, version: str, user_id: str, key_folder: Path, secret: str, meaning: Meaning, reason: str,
    rollback: bool = False,
) -> tuple[ModelVersion, Signature]:  # fmt: skip
    """Sign ``version`` server-side with the user's key and submit it (``rollback``: return to it, a RETIRED version,
    as `gxp rollback` does); SignatureRefused / ActionRefused as the CLI."""
    model = governance.registry.get(version)
    if model is None:
        raise LookupError(f"no model version {version} in the registry")
    signature = sign_as(governance, user_id, private_key_pem(key_folder, user_id), secret, version, model.record_hash,
                        meaning, reason)  # fmt: skip
    updated = governance.rollback(version, signature) if rollback else governance.submit_signature(version, signature)
    from gxp_assets.defs.registry_observation import report_registry_state

    report_registry_state(governance, version)  # the Dagster UI shows the new state too, as after `gxp approve`
    return updated, signature
