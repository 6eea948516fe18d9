"""Change control for the pipeline itself: any change to the asset graph shows up as a reviewed diff.

After an intended change, regenerate it with
``GXP_UPDATE_SNAPSHOTS=1 scripts/test.sh gxp_assets_tests/test_asset_graph_snapshot.py``
and commit the new snapshot together with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gxp_assets.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def describe_graph() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "code_version": node.code_version,
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        spec = graph.get_check_spec(check_key)
        checks[f"{check_key.asset_key.to_user_string()}:{check_key.name}"] = {
            "blocking": spec.blocking,
            "additional_deps": sorted(dep.asset_key.to_user_string() for dep in spec.additional_deps),
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = job.asset_layer.selected_asset_keys
        jobs[job.name] = sorted(key.to_user_string() for key in selected)
    sensors = {sensor.name: sorted(job.name for job in sensor.jobs) for sensor in defs.sensors or []}
    schedules = {schedule.name: schedule.job_name for schedule in defs.schedules or []}
    return {"assets": assets, "checks": checks, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def test_asset_graph_matches_the_reviewed_snapshot() -> None:
    current = json.dumps(describe_graph(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("GXP_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with GXP_UPDATE_SNAPSHOTS=1 to write {SNAPSHOT}"
    assert current == SNAPSHOT.read_text(), (
        "the asset graph changed; review the difference, then regenerate the snapshot (see this module's docstring)"
    )
