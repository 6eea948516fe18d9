"""`gxp demo --use-case dissolution_risk` for real, in a fresh GXP_HOME: a use case declared by records, no code of
its own, from its declared demo data to an ACTIVE model, a reconciled batch and a per-feature drift report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case
from gxp_assets.stores.results_local import LocalResultsStore

USE_CASE = "dissolution_risk"


def test_the_tabular_demo_trains_approves_promotes_scores_and_reports_drift(tmp_path: Path) -> None:
    declaration = load_use_case(USE_CASES_ROOT / USE_CASE).use_case
    assert declaration.demo is not None
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    env = {name: value for name, value in os.environ.items()
           if name not in ("GXP_PLAN", "GXP_ROLES", "GXP_USER", "GXP_USE_CASES", "GXP_LANDING")}  # fmt: skip
    env |= {"GXP_HOME": str(tmp_path / "gxp_home"), "DAGSTER_HOME": str(dagster_home)}
    run = subprocess.run([sys.executable, "-m", "gxp_assets.cli", "demo", "--use-case", USE_CASE],
                         capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout

    # Trained, signed by the two roles the plan requires, promoted: the registry says ACTIVE.
    version = re.search(r"Registered as model (\S+):", out).group(1)
    assert f"model {version} is now APPROVED" in out and f"model {version} is ACTIVE" in out
    assert "(qa_reviewer + qualified_person)" in out

    # Every record of the landed batch scored or quarantined, checked by the blocking check and in the store.
    received = declaration.demo.batch_records
    assert re.search(rf"{received} records received = \d+ scored \+ 3 quarantined; reconciliation check "
                     r"batch_reconciled: passed", out)  # fmt: skip
    (summary,) = LocalResultsStore(tmp_path / "gxp_home").batches()
    assert summary.scored + summary.quarantined == received and summary.quarantined == 3
    # People read the declared outcome names, the one undeclared supplier went to REVIEW, and the guarantee is
    # stated in the use case's words.
    for outcome in (declaration.triage.negative, declaration.triage.uncertain, declaration.triage.positive):
        assert re.search(rf"^  {outcome.name} +\d+  ", out, re.MULTILINE)
    assert "is REVIEW: unknown level excipient_supplier=SUP-N" in out
    assert "routed RELEASE_REVIEW_NOT_NEEDED" in out and "AE" not in out.split("== 5.")[1]

    # The drift report has every declared feature's measures.
    features = declaration.features.columns()
    for feature in features:
        assert re.search(rf"^{feature} +(numeric|categorical) +\d", out, re.MULTILINE)
    stored = [json.loads(path.read_text()) for path in
              (tmp_path / "gxp_home" / "artifacts" / USE_CASE / "drift_report").glob("*/*.json")]  # fmt: skip
    (report,) = stored
    assert report["kind"] == "records" and [column["column"] for column in report["columns"]] == features
    assert all(column["psi"] is not None for column in report["columns"])
    # ...and the domain classifier on all of them jointly, measured on the batch's scored records and shown.
    assert report["domain_auc"] is not None and report["domain_rows"] == summary.scored
    assert re.search(r"^Domain classifier \(all features jointly\): AUROC 0\.\d{4} \(z -?\d+\.\d\d, "
                     rf"{summary.scored} records sampled; limit 0\.8\): no alarm$", out, re.MULTILINE)  # fmt: skip
