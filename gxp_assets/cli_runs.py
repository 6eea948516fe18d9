"""Running a job of the Definitions in the DAGSTER_HOME instance, so its history shows in `dagster dev` afterwards."""

from __future__ import annotations

import os
from typing import Any

from gxp_assets.stores.local import default_home


class NoInstance(RuntimeError):
    pass


def run_job(
    name: str, run_config: dict | None = None, partition_key: str | None = None, log_level: str = "INFO"
) -> Any:
    """Execute ``name`` in process, tagged with who launched it; returns Dagster's result (never raises on failure)."""
    from dagster import DagsterInstance

    from gxp_assets.definitions import defs
    from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
    from gxp_assets.defs.provenance import current_user

    if not os.environ.get("DAGSTER_HOME"):
        raise NoInstance("DAGSTER_HOME is not set: run through scripts/demo.sh, or `source scripts/env.sh` first")
    run_config = dict(run_config or {})
    run_config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    job = defs.resolve_job_def(name)
    print(f"running job '{job.name}'{f' on partition {partition_key}' if partition_key else ''} "
          f"(GXP_HOME={default_home()})", flush=True)  # fmt: skip
    return job.execute_in_process(
        instance=DagsterInstance.get(),
        run_config=run_config,
        partition_key=partition_key,
        raise_on_error=False,
        tags={LAUNCHED_BY_TAG: current_user()},
    )


def materializations(result: Any) -> dict[str, dict]:
    """Metadata of each asset the run materialized, by asset name, printing one line per asset."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        name = materialization.asset_key.to_user_string()
        size = metadata.get("records", metadata.get("rows", metadata.get("shape", metadata.get("bytes", ""))))
        print(f"  {name:<22} {size!s:>10}  {metadata.get('artifact', '')}")
        found[name] = metadata
    for check in result.get_asset_check_evaluations():
        print(f"  check {check.check_name:<30} {'passed' if check.passed else 'FAILED'}")
    return found
