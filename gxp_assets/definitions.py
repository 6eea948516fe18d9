"""The one Definitions object: one asset graph per wired use case (defs/use_case_graph.py), resources once."""

from __future__ import annotations

from dagster import Definitions

from gxp_assets.defs.resources import resources
from gxp_assets.defs.use_case_graph import ALL_STAGES, use_case_definitions
from gxp_assets.defs.use_case_scope import UseCaseScope

#: The use cases whose graph is built, with the stages built so far (a prefix of ALL_STAGES). Each must be declared
#: under use_cases/; both have every stage (dissolution_risk scores declared records and measures their drift per
#: feature: core.record_scoring, core.record_drift).
WIRED_USE_CASES = {"ae_triage": ALL_STAGES, "dissolution_risk": ALL_STAGES}
SCOPES = {use_case: UseCaseScope(use_case) for use_case in WIRED_USE_CASES}

defs = Definitions.merge(
    *(use_case_definitions(scope, WIRED_USE_CASES[use_case]) for use_case, scope in SCOPES.items()),
    Definitions(resources=resources()),  # chosen by GXP_ENV from one mapping (gxp_assets.defs.resources)
)
