"""Where things are kept, behind small protocols; ``GXP_ENV`` picks the backend (DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path

from gxp_assets.governance.plan import DEFAULT_PLAN_PATH, LoadedPlan, load_plan
from gxp_assets.governance.roles import load_roles
from gxp_assets.governance.service import Governance
from gxp_assets.stores.audit_local import LocalAuditTrail
from gxp_assets.stores.audit_protocol import AuditTrail
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets.stores.protocols import ArtifactStore
from gxp_assets.stores.registry_local import LocalRegistry

BACKENDS = ("local",)
DEFAULT_ROLES_PATH = DEFAULT_PLAN_PATH.parent / "roles.yaml"


def _environment() -> str:
    environment = os.environ.get("GXP_ENV", "local") or "local"
    if environment not in BACKENDS:
        raise ValueError(f"GXP_ENV={environment!r} is not available; choose one of {BACKENDS}")
    return environment


def artifact_store(home: Path | str | None = None) -> ArtifactStore:
    """The artifact store of the environment: ``local`` (filesystem + SQLite under GXP_HOME) by default."""
    _environment()
    return LocalArtifactStore(home)


def audit_trail(home: Path | str | None = None) -> AuditTrail:
    _environment()
    return LocalAuditTrail(home)


def current_plan() -> LoadedPlan:
    """The change control plan in force: GXP_PLAN, else the repository's change_control_plan.yaml."""
    return load_plan(os.environ.get("GXP_PLAN") or DEFAULT_PLAN_PATH)


def open_governance(home: Path | str | None = None) -> Governance:
    """Registry and audit trail of the environment, with the plan (GXP_PLAN) and roles file (GXP_ROLES)."""
    _environment()
    plan = current_plan()
    roles = load_roles(os.environ.get("GXP_ROLES") or DEFAULT_ROLES_PATH)
    return Governance(LocalRegistry(home), LocalAuditTrail(home), plan, roles)
