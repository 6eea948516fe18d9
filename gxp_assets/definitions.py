"""The one Definitions object: one asset graph per wired use case (defs/use_case_graph.py), resources once."""

from __future__ import annotations

from dagster import Definitions

from gxp_assets.defs.resources import resources
from gxp_assets.defs.use_case_graph import use_case_definitions
from gxp_assets.defs.use_case_scope import UseCaseScope

#: Use cases whose graph is built. Each must be declared under use_cases/; the asset bodies are the text (AE) path
#: until the tabular path is wired through the same factory (HANDOFF.md, next step), so dissolution_risk waits.
WIRED_USE_CASES = ("ae_triage",)
SCOPES = {use_case: UseCaseScope(use_case) for use_case in WIRED_USE_CASES}

defs = Definitions.merge(
    *(use_case_definitions(scope) for scope in SCOPES.values()),
    Definitions(resources=resources()),  # chosen by GXP_ENV from one mapping (gxp_assets.defs.resources)
)
