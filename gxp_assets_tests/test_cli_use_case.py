"""`gxp` commands that read one use case's things take `--use-case`: artifacts by their bare asset name (full key
paths keep working), and trace and queue see only that use case's scorings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.cli.main import main as gxp
from gxp_assets.stores import artifact_store, audit_trail, results_store
from gxp_assets.stores.results_integrity import RESULTS_ACTION
from gxp_assets_tests.conftest import AE
from gxp_assets_tests.stores.test_results_local import scored

DR = "dissolution_risk"


def test_artifacts_take_a_bare_name_under_a_use_case_and_keep_full_key_paths(
    gxp_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    store = artifact_store()
    ae = store.put(f"{AE}/dataset_splits", None, b'{"ae": 1}', ".json", "run-1")
    store.put(f"{DR}/dataset_splits", None, b'{"dr": 1}', ".json", "run-2")
    capsys.readouterr()
    assert gxp(["artifacts", "list", "--use-case", DR]) == 0
    listed = capsys.readouterr().out
    assert f"{DR}/dataset_splits" in listed and f"{AE}/" not in listed
    out = tmp_path / "splits.json"
    assert gxp(["artifacts", "export", "dataset_splits", "--use-case", AE, "--out", str(out)]) == 0
    assert out.read_bytes() == b'{"ae": 1}' and ae.sha256 in capsys.readouterr().out
    again = tmp_path / "again.json"
    assert gxp(["artifacts", "export", f"{DR}/dataset_splits", "--out", str(again)]) == 0  # a full key path
    assert again.read_bytes() == b'{"dr": 1}'
    assert gxp(["artifacts", "export", f"{DR}/dataset_splits", "--use-case", AE]) == 1  # another use case's key
    assert "is not of use case 'ae_triage'" in capsys.readouterr().err


def test_trace_and_queue_see_only_the_use_case_named(gxp_home: Path, capsys: pytest.CaptureFixture) -> None:
    store, now = results_store(), pd.Timestamp(datetime.now(UTC))
    models = {AE: "ae_triage-aaaaaaaaaaaa", DR: "dissolution_risk-bbbbbbbbbbbb"}
    for batch, use_case in (("ae-1", AE), ("dr-1", DR)):
        with store.writer(batch, "run", use_case=use_case,
                          on_commit=lambda facts, b=batch: audit_trail().append("system", RESULTS_ACTION, b, facts)
                          ) as writer:  # fmt: skip
            rows = scored(batch, 0, 3, triage="PRIORITY", model_version=models[use_case], scored_at=now)
            writer.add(rows, pd.DataFrame())
    capsys.readouterr()
    assert gxp(["trace", "r1", "--use-case", DR]) == 0
    traced = capsys.readouterr().out
    assert "scored in batch dr-1" in traced and "ae-1" not in traced and f"use case {DR}" in traced
    assert gxp(["trace", "r1"]) == 0  # every use case's scorings of the id
    assert "scored in batch ae-1" in capsys.readouterr().out
    assert gxp(["queue", "--use-case", AE]) == 0
    queue = capsys.readouterr().out
    assert "3 PRIORITY report(s)" in queue and "dr-1" not in queue
