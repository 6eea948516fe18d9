"""Verification of a model version's whole chain at the point of use (21 CFR Part 11 §11.10(f), (g)).

Before a model scores anything or is promoted, and whenever `gxp registry show` is asked, one function checks:

- ``record_hash``: the registry record hashes to its recorded hash, and the version id derives from the model and
  conformal hashes it names (``version_id``);
- ``artifact:<asset>``: the classifier, conformal record and drift reference stored under the record's data versions
  hash to what the record says;
- ``plan``: the plan recorded (by hash) with the model is the plan in force for the model's use case;
- ``approvals``: every signature that plan requires verifies against the record hash and the approved roles file whose
  hash it carries, and each one counted is in the audit trail;
- ``transitions``: the state was reached through legal transitions, the same in the registry and the audit trail, and
  the trail's registration entry names this record hash;
- ``audit_trail``: the trail itself is intact against its anchors and checkpoints.

Pure: the caller gathers the evidence from the stores; the verdict names every failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.governance.approvals import approval_status
from gxp_assets.governance.audit import AuditEntry
from gxp_assets.governance.model_plan import PlanNotAvailable, recorded_plan
from gxp_assets.governance.plan import LoadedPlan
from gxp_assets.governance.registry import (
    TRANSITIONS,
    ModelVersion,
    State,
    Transition,
    record_hash,
    version_id,
)
from gxp_assets.governance.roles import Roles

#: asset name in the lineage -> field of the record holding the SHA-256 of its content.
MODEL_ARTIFACTS: tuple[tuple[str, str], ...] = (
    ("ae_classifier", "model_sha256"),
    ("conformal_model", "conformal_sha256"),
    ("drift_reference", "drift_reference_sha256"),
)


@dataclass(frozen=True)
class Failure:
    check: str  # stable name: record_hash, artifact:<asset>, plan, approvals, transitions, audit_trail, ...
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass(frozen=True)
class Verdict:
    version: str
    state: str
    failures: tuple[Failure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.ok:
            return f"model {self.version} ({self.state}): every control verified"
        return f"model {self.version} ({self.state}) FAILED verification: " + "; ".join(map(str, self.failures))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "state": self.state,
            "ok": self.ok,
            "failures": [{"check": f.check, "detail": f.detail} for f in self.failures],
        }


@dataclass(frozen=True)
class ChainEvidence:
    """Everything the verification looks at, read from the stores by the caller."""

    model: ModelVersion
    plans: Mapping[str, LoadedPlan]  # use case -> the plan in force for it
    history: Sequence[Transition]  # the registry's transitions of this version, oldest first
    signatures: Sequence[Mapping[str, Any]]  # the registry's stored signatures of this version
    audit_entries: Sequence[AuditEntry]  # the whole trail, oldest first
    audit_problems: Sequence[str]  # what verifying the trail against its anchors found
    # roles_sha256 -> roles file approved by the role administrator the model's plan pins
    approved_roles: Mapping[str, Roles]
    artifacts: Mapping[str, object]  # asset -> decoded stored value, or the exception reading it raised


def content_sha256(value: object) -> str:
    """The hash a record keeps of an artifact's content: text as UTF-8, anything else as canonical JSON."""
    return sha256_hex(value.encode() if isinstance(value, str) else canonical_json(value))


def _record_failures(model: ModelVersion) -> list[Failure]:
    failures = []
    actual = record_hash(model.record)
    if actual != model.record_hash:
        failures.append(Failure("record_hash", f"the record hashes to {actual[:12]}, the registry says "
                                               f"{model.record_hash[:12]}: the record was edited"))  # fmt: skip
    derived = version_id(
        model.use_case, str(model.record.get("model_sha256")), str(model.record.get("conformal_sha256"))
    )
    if derived != model.version or model.record.get("version") != model.version:
        failures.append(Failure("version_id", f"the record's model and conformal hashes make version {derived}, "
                                              f"not {model.version}"))  # fmt: skip
    return failures


def _artifact_failures(model: ModelVersion, artifacts: Mapping[str, object]) -> list[Failure]:
    failures = []
    for asset, field in MODEL_ARTIFACTS:
        expected = model.record.get(field)
        if expected is None and asset == "drift_reference":
            continue  # versions registered before drift references existed
        value = artifacts.get(asset)
        if value is None or isinstance(value, Exception):
            why = f"cannot be read: {value}" if value is not None else "is not stored under the recorded data version"
            failures.append(Failure(f"artifact:{asset}", f"the {asset} the record names {why}"))
        elif (actual := content_sha256(value)) != expected:
            failures.append(Failure(f"artifact:{asset}", f"the stored {asset} hashes to {actual[:12]}, the record "
                                                         f"names {str(expected)[:12]}: it was replaced"))  # fmt: skip
    return failures


def _model_plan(model: ModelVersion, plans: Mapping[str, LoadedPlan]) -> tuple[LoadedPlan | None, list[Failure]]:
    try:
        return recorded_plan(model, plans), []
    except PlanNotAvailable as missing:
        return None, [Failure("plan", str(missing))]


def _audited(entries: Sequence[AuditEntry], version: str) -> tuple[list[AuditEntry], dict[str, AuditEntry]]:
    transitions = [e for e in entries if e.action == "transition" and e.subject == version]
    signatures = {
        str(e.details.get("signature_id")): e for e in entries if e.action == "signature" and e.subject == version
    }
    return transitions, signatures


def _transition_failures(model: ModelVersion, history: Sequence[Transition], audited: list[AuditEntry]) -> list[str]:
    problems = []
    steps = [(t.from_state, t.to_state) for t in history]
    if not steps or steps[0] != (None, State.CANDIDATE):
        problems.append("the registry records no registration as CANDIDATE")
    for previous, (from_state, to_state) in zip([None, *[s[1] for s in steps]], steps, strict=False):
        if from_state != previous or (from_state is not None and to_state not in TRANSITIONS[State(from_state)]):
            problems.append(f"{from_state or '-'} -> {to_state} does not follow {previous or 'nothing'} legally")
    if steps and steps[-1][1] != model.state:
        problems.append(f"the registry says {model.state}, but its last transition led to {steps[-1][1]}")
    if not steps and model.state:
        problems.append(f"the registry says {model.state} without any transition")
    trail = [(e.details.get("from"), e.details.get("to")) for e in audited]
    if trail != [(str(f) if f else None, str(t)) for f, t in steps]:
        shown = " ".join(f"{f or '-'}->{t}" for f, t in trail) or "none"
        problems.append(f"the audit trail records the transitions {shown}, not the registry's")
    registered = [e for e in audited if e.details.get("from") is None]
    if registered and registered[0].details.get("record_hash") != model.record_hash:
        problems.append("the audit trail registered another record hash for this version: the record was replaced")
    return problems


def verify_model_chain(evidence: ChainEvidence) -> Verdict:
    """Every control of the chain for ``evidence.model``; the verdict lists each failure by name."""
    model = evidence.model
    failures = _record_failures(model) + _artifact_failures(model, evidence.artifacts)
    plan, plan_failures = _model_plan(model, evidence.plans)
    failures += plan_failures
    audited_transitions, audited_signatures = _audited(evidence.audit_entries, model.version)
    needs_approvals = model.state in (State.APPROVED, State.ACTIVE) or (
        model.state == State.RETIRED and any(t.to_state == State.ACTIVE for t in evidence.history)
    )
    if needs_approvals and plan is None:
        failures.append(Failure("approvals", "cannot be checked without the plan recorded with the model"))
    elif needs_approvals:
        status = approval_status(plan.plan, model, evidence.signatures, evidence.approved_roles)
        if not status.complete:
            why = "; ".join(status.refused.values())
            failures.append(Failure("approvals", f"missing {', '.join(status.missing)}" + (f" ({why})" if why else "")))
        for signature in status.valid:
            entry = audited_signatures.get(signature.signature_id)
            if entry is None or entry.details.get("record_hash") != signature.record_hash:
                detail = f"signature {signature.signature_id} by {signature.user_id} is not in the audit trail"
                failures.append(Failure("approvals", detail + ": it was not given through the system"))
    failures += [Failure("transitions", p) for p in _transition_failures(model, evidence.history, audited_transitions)]
    failures += [Failure("audit_trail", problem) for problem in evidence.audit_problems]
    return Verdict(model.version, str(model.state), tuple(failures))
