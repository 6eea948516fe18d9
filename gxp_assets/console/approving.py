"""The approver's inbox: versions awaiting approval beside the ACTIVE one, and signing through the CLI's one path
(governance.signing_as + Governance.submit_signature), so the console refuses exactly what `gxp approve` refuses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gxp_assets.governance.registry import ModelVersion, State
from gxp_assets.governance.service import Governance
from gxp_assets.governance.signatures import Meaning, Signature
from gxp_assets.governance.signing_as import sign_as

#: What the sign form offers: the meanings `gxp approve` and `gxp reject` sign.
SIGN_MEANINGS = (Meaning.APPROVAL, Meaning.REVIEW, Meaning.REJECTION)


def approver_roles(governance: Governance) -> set[str]:
    """The roles the plan asks signatures of: who may open the inbox."""
    return {str(required.role) for required in governance.plan.plan.approvals.required}


def awaiting(governance: Governance) -> list[ModelVersion]:
    return [model for model in governance.registry.versions() if model.state == State.PENDING_APPROVAL]


@dataclass(frozen=True)
class Comparison:
    """A candidate's figures beside the ACTIVE version's: metrics, criteria and AE recall by source."""

    metrics: list[tuple[str, object, object]]
    criteria: list[tuple[str, object, object, bool, object]]
    sources: list[tuple[str, object, object]]


def _by_source(record: dict) -> dict[str, object]:
    found = record.get("metrics", {}).get("by_source") or record.get("subgroups") or {}
    if isinstance(found, dict):
        return {str(k): (v.get("ae_recall") if isinstance(v, dict) else v) for k, v in found.items()}
    return {}


def compare(candidate: ModelVersion, active: ModelVersion | None) -> Comparison:
    mine, theirs = candidate.record, active.record if active else {}
    names = sorted({k for k, v in mine.get("metrics", {}).items() if isinstance(v, int | float)})
    metrics = [(name, mine["metrics"].get(name), theirs.get("metrics", {}).get(name)) for name in names]
    active_criteria = {c["name"]: c.get("measured") for c in theirs.get("acceptance", [])}
    criteria = [(c["name"], c.get("measured"), c.get("limit"), bool(c.get("passed")), active_criteria.get(c["name"]))
                for c in mine.get("acceptance", [])]  # fmt: skip
    ours, other = _by_source(mine), _by_source(theirs)
    sources = [(source, ours.get(source), other.get(source)) for source in sorted(set(ours) | set(other))]
    return Comparison(metrics, criteria, sources)


def sign_version(
    governance: Governance, version: str, user_id: str, key_folder: Path, secret: str, meaning: Meaning, reason: str
) -> tuple[ModelVersion, Signature]:
    """Sign ``version`` server-side with the user's key and submit it; SignatureRefused / ActionRefused as the CLI."""
    model = governance.registry.get(version)
    if model is None:
        raise LookupError(f"no model version {version} in the registry")
    key_path = key_folder / f"{user_id}.pem"
    if not key_path.is_file():
        raise LookupError(f"no private key for {user_id} on this server")
    signature = sign_as(governance, user_id, key_path.read_bytes(), secret, version, model.record_hash, meaning,
                        reason)  # fmt: skip
    updated = governance.submit_signature(version, signature)
    from gxp_assets.defs.registry_observation import report_registry_state

    report_registry_state(governance, version)  # the Dagster UI shows the new state too, as after `gxp approve`
    return updated, signature
