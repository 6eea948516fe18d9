"""Declaring a use case is writing its folder: a third use case, declared in a copy of the repository's folder and
nowhere in code, gets its whole graph (assets, jobs, sensors, schedule) in the one Definitions object."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gxp_assets.governance.use_case import USE_CASES_ROOT

LIST_GRAPH = """
import json
from gxp_assets.definitions import SCOPES, defs
repository = defs.get_repository_def()
print(json.dumps({
    "scopes": sorted(SCOPES),
    "jobs": sorted(job.name for job in repository.get_all_jobs()),
    "sensors": sorted(sensor.name for sensor in repository.sensor_defs),
    "assets": sorted(key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()),
}))
"""


def test_a_use_case_declared_in_its_folder_alone_gets_its_whole_graph(tmp_path: Path) -> None:
    root = tmp_path / "use_cases"
    shutil.copytree(USE_CASES_ROOT, root)
    folder = root / "tablet_hardness"
    (root / "dissolution_risk").rename(folder)
    for name, replacements in {
        "use_case.yaml": [("id: dissolution_risk", "id: tablet_hardness")],
        "change_control_plan.yaml": [("use_case: dissolution_risk", "use_case: tablet_hardness")],
    }.items():
        text = (folder / name).read_text(encoding="utf-8")
        for old, new in [*replacements, ("id: dissolution-risk-v1", "id: tablet-hardness-v1")]:
            assert old in text
            text = text.replace(old, new)
        (folder / name).write_text(text, encoding="utf-8")
    env = {**os.environ, "GXP_USE_CASES": str(root), "GXP_HOME": str(tmp_path / "home")}
    shown = subprocess.run([sys.executable, "-c", LIST_GRAPH], env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-3000:]
    graph = json.loads(shown.stdout.strip().splitlines()[-1])
    assert graph["scopes"] == ["ae_triage", "tablet_hardness"]
    for job in ("prepare_training_data", "train_model", "promote_model", "score_batch"):
        assert f"tablet_hardness__{job}" in graph["jobs"]
    assert "tablet_hardness__landing_files" in graph["sensors"]
    assert {"tablet_hardness/validated_reports", "tablet_hardness/drift_report"} <= set(graph["assets"])
    assert not any(key.startswith("dissolution_risk/") for key in graph["assets"])
