"""Where things are kept, behind small protocols; ``GXP_ENV`` picks the backend from one mapping (DESIGN.md):
``local`` (files and SQLite under GXP_HOME) or ``aws`` (the stack named by GXP_AWS_STACK)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gxp_assets.governance.plan import DEFAULT_PLAN_PATH, LoadedPlan, PlanError, load_plan
from gxp_assets.governance.roles import load_roles
from gxp_assets.governance.service import Governance, RegistryStore
from gxp_assets.governance.use_case import USE_CASES_ROOT, DeclaredUseCase, declared_use_cases
from gxp_assets.stores import codecs
from gxp_assets.stores.audit_local import LocalAuditTrail
from gxp_assets.stores.audit_protocol import AuditTrail
from gxp_assets.stores.landing import DEFAULT_SETTLE_SECONDS, LocalLandingZone
from gxp_assets.stores.local import LocalArtifactStore, default_home
from gxp_assets.stores.notifier import LocalOutboxNotifier, Notification, Notifier
from gxp_assets.stores.notifier_audit import AuditedNotifier
from gxp_assets.stores.protocols import ArtifactStore
from gxp_assets.stores.registry_local import LocalRegistry
from gxp_assets.stores.results_integrity import ResultsIntegrityError, recorded_results
from gxp_assets.stores.results_local import LocalResultsStore
from gxp_assets.stores.results_protocol import ResultsStore

DEFAULT_ROLES_PATH = USE_CASES_ROOT.parent / "roles.yaml"  # one roles file, for every use case


@dataclass(frozen=True)
class Backend:
    """How one environment makes each store; ``home`` is GXP_HOME (aws: where verified copies are cached)."""

    artifacts: Callable[[Path | str | None], ArtifactStore]
    audit: Callable[[Path | str | None], AuditTrail]
    registry: Callable[[Path | str | None], RegistryStore]
    results: Callable[[Path | str | None], ResultsStore]
    notifier: Callable[[Path | str | None], Notifier]


def _local(stack: str | None = None) -> Backend:
    return Backend(LocalArtifactStore, LocalAuditTrail, LocalRegistry, LocalResultsStore, LocalOutboxNotifier)


def _aws(stack: str | None = None) -> Backend:
    """Imported only when chosen, so the embedded default never needs AWS configuration; ``stack`` overrides
    GXP_AWS_STACK."""
    from gxp_assets.stores.aws_artifacts import AwsArtifactStore
    from gxp_assets.stores.aws_audit import AwsAuditTrail
    from gxp_assets.stores.aws_notifier import AwsNotifier
    from gxp_assets.stores.aws_registry import AwsRegistry
    from gxp_assets.stores.aws_results import AwsResultsStore
    from gxp_assets.stores.aws_session import aws_context

    def cache(home: Path | str | None) -> Path:
        return (Path(home).resolve() if home else default_home()) / "aws-cache"

    return Backend(
        artifacts=lambda home: AwsArtifactStore(aws_context(stack), cache(home)),
        audit=lambda home: AwsAuditTrail(aws_context(stack)),
        registry=lambda home: AwsRegistry(aws_context(stack)),
        results=lambda home: AwsResultsStore(aws_context(stack), cache(home) / "results"),
        notifier=lambda home: AwsNotifier(aws_context(stack)),
    )


#: The one mapping from GXP_ENV to the stores of that environment.
ENVIRONMENTS: dict[str, Callable[[str | None], Backend]] = {"local": _local, "aws": _aws}
BACKENDS = tuple(ENVIRONMENTS)


def environment(name: str | None = None) -> str:
    """``name``, else GXP_ENV, ``local`` by default; anything else is refused naming the choices."""
    name = name or os.environ.get("GXP_ENV", "local") or "local"
    if name not in ENVIRONMENTS:
        raise ValueError(f"GXP_ENV={name!r} is not available; choose one of {BACKENDS}")
    return name


def backend(name: str | None = None, stack: str | None = None) -> Backend:
    """The stores of environment ``name`` (default GXP_ENV); ``stack`` overrides GXP_AWS_STACK on aws."""
    return ENVIRONMENTS[environment(name)](stack)


def artifact_store(
    home: Path | str | None = None, env: str | None = None, stack: str | None = None
) -> ArtifactStore:
    """The artifact store of the environment: ``local`` (filesystem + SQLite under GXP_HOME) by default, ``aws``
    (S3 + a DynamoDB index) with GXP_ENV=aws; a Dagster resource passes its configured ``env`` and ``stack``."""
    return backend(env, stack).artifacts(home)


def audit_trail(home: Path | str | None = None, env: str | None = None, stack: str | None = None) -> AuditTrail:
    return backend(env, stack).audit(home)


def registry(home: Path | str | None = None) -> RegistryStore:
    return backend().registry(home)


def results_store(home: Path | str | None = None) -> ResultsStore:
    """Scored batches, quarantine, adjudications and monitoring events (local: SQLite + Parquet per batch)."""
    return backend().results(home)


def verified_results(home: Path | str | None = None) -> ResultsStore:
    """The results store, once its index matches the results recorded in the audit trail; otherwise an alarm is
    audited and ResultsIntegrityError raised naming every difference (readers must not answer from it)."""
    store, trail = results_store(home), audit_trail(home)
    problems = store.verify(recorded_results(trail.entries()))
    if problems:  # a batch committed between reading the trail and the index looks like an edit: look once more
        problems = store.verify(recorded_results(trail.entries()))
    if problems:
        trail.append("system", "alarm", "results", {"kind": "results_index_untrusted", "problems": problems[:50]})
        raise ResultsIntegrityError(problems)
    return store


def notifier(home: Path | str | None = None) -> Notifier:
    """Where people are told about PRIORITY reports and retraining (local: an outbox folder of JSON messages;
    aws: SES e-mail and SQS queues); every message sent is also an audit entry."""
    return AuditedNotifier(backend().notifier(home), audit_trail(home))


def landing_zone(use_case: str) -> LocalLandingZone:
    """The landing folder of ``use_case``: GXP_LANDING/<id>, else GXP_HOME/landing/<id> (GXP_LANDING is the root of
    every use case's folder); GXP_LANDING_SETTLE_SECONDS overrides how long a file must be still. On aws the folder
    mirrors ``landing/<id>/`` of the landing bucket, fed from the one Records queue (routed by key to each declared
    use case's mirror)."""
    settle = os.environ.get("GXP_LANDING_SETTLE_SECONDS")
    root = Path(os.environ.get("GXP_LANDING") or default_home() / "landing") / use_case
    if environment() == "aws":  # files arrive whole in the landing bucket; the folder is their local mirror
        from gxp_assets.stores.aws_landing import AwsLandingZone
        from gxp_assets.stores.aws_session import aws_context

        return AwsLandingZone(aws_context(), root, settle_seconds=float(settle or 0), use_cases=use_cases_in_force())
    return LocalLandingZone(root, settle_seconds=float(settle or DEFAULT_SETTLE_SECONDS))


def current_plan(use_case: str | None = None) -> LoadedPlan:
    """The change control plan in force for ``use_case``: GXP_PLAN when it names that use case, else the use case's
    declared plan. Without a use case (commands not tied to one): GXP_PLAN, else ae_triage's declared plan."""
    override = os.environ.get("GXP_PLAN") or None
    if use_case is None:
        return load_plan(override or DEFAULT_PLAN_PATH)
    if override is not None and (plan := load_plan(override)).plan.use_case == use_case:
        return plan
    declared = use_cases_in_force()
    if use_case not in declared:
        raise PlanError(f"use case {use_case!r} is not declared (declared: {', '.join(sorted(declared))})")
    return declared[use_case].plan


def use_cases_root() -> Path:
    """The folder of use-case declarations: GXP_USE_CASES, default the repository's use_cases/."""
    return Path(os.environ.get("GXP_USE_CASES") or USE_CASES_ROOT)


def use_cases_in_force() -> dict[str, DeclaredUseCase]:
    """Every use case declared under GXP_USE_CASES (default: the repository's use_cases/) with its plan in force:
    its declared plan, or GXP_PLAN for the use case that plan names."""
    return declared_use_cases(use_cases_root(), os.environ.get("GXP_PLAN") or None)


def open_governance(home: Path | str | None = None, use_case: str | None = None) -> Governance:
    """Registry and audit trail of the environment, with every use case's plan in force (GXP_PLAN replacing the one
    of the use case it names) and the roles file (GXP_ROLES); artifacts are read (hash-checked) from the
    environment's store for verification, alarms go to its notifier. ``plan`` is ``use_case``'s plan in force
    (default: see ``current_plan``)."""
    plan = current_plan(use_case)
    plans = {use_case: declared.plan for use_case, declared in use_cases_in_force().items()}
    roles = load_roles(os.environ.get("GXP_ROLES") or DEFAULT_ROLES_PATH)
    store, messages = artifact_store(home), notifier(home)

    def load(asset: str, data_version: str) -> object:
        ref = store.find(asset, data_version)
        return codecs.decode(store.read(ref), ref.suffix)

    def alarm(kind: str, subject: str, payload: dict) -> str:
        return messages.send(Notification(kind=kind, subject=subject, body=subject, payload=payload))

    return Governance(registry(home), audit_trail(home), plan, roles, load_artifact=load, alarm=alarm, plans=plans)
