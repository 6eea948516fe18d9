"""The one Definitions object: one asset graph per declared use case (defs/use_case_graph.py), resources once."""

from __future__ import annotations

from dagster import Definitions

from gxp_assets.defs.resources import resources
from gxp_assets.defs.use_case_graph import use_case_definitions
from gxp_assets.defs.use_case_scope import UseCaseScope
from gxp_assets.governance.use_case import discover_use_cases
from gxp_assets.stores import use_cases_root

#: Every use case declared under GXP_USE_CASES (default: use_cases/) gets its whole graph: declaring a use case is
#: writing its folder, not code (a use case with a text feature reads reports, any other its declared records).
SCOPES = {use_case: UseCaseScope(use_case) for use_case in discover_use_cases(use_cases_root())}

defs = Definitions.merge(
    *(use_case_definitions(scope) for scope in SCOPES.values()),
    Definitions(resources=resources()),  # chosen by GXP_ENV from one mapping (gxp_assets.defs.resources)
)
