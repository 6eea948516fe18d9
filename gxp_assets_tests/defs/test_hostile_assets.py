"""Hostile files through the real Dagster assets: the run must account for every record, or fail naming the file.

The core tests pin down each record's fate; these check that the asset layer keeps those guarantees end to end
(the IO manager stores quarantined bytes, the blocking reconciliation check runs and passes, a file that cannot
be read fails the run with a message a person can act on).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import ExecuteInProcessResult, materialize

from gxp_assets.core.loaders import load_contract_files
from gxp_assets.core.validation import ValidationRules, validate_reports
from gxp_assets.defs.data_assets import data_assets
from gxp_assets.defs.data_checks import data_checks
from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.stores import codecs
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.conftest import ae_scope
from gxp_assets_tests.hostile_files import BIG_TEXT_CHARS, GARBAGE, csv_text, good_row, write_all, write_garbage

SCOPE = ae_scope()
ASSETS = {assets.op.name: assets for assets in data_assets(SCOPE)}
CHECKS = {check.check_key.name: check for check in data_checks(SCOPE)}


def run(folder: Path, home: Path, raise_on_error: bool = True) -> ExecuteInProcessResult:
    """Materialize the corpus, the validation multi-asset and the blocking reconciliation check from ``folder``."""
    return materialize(
        [ASSETS[SCOPE.name("labelled_reports")], ASSETS[SCOPE.name("validated_reports")], CHECKS["records_reconciled"]],
        resources={"io_manager": ArtifactIOManager(home=str(home))},
        run_config=SCOPE.run_config(
            {"ops": {"labelled_reports": {"config": {"format": "contract", "path": str(folder)}}}}
        ),
        raise_on_error=raise_on_error,
    )


class HostileRun:
    """One materialization of the whole hostile folder (minus garbage), shared by the tests that inspect it."""

    def __init__(self, folder: Path, home: Path, result: ExecuteInProcessResult) -> None:
        self.folder, self.home, self.result = folder, home, result

    def stored(self, asset: str) -> pd.DataFrame:
        """The asset's latest artifact, decoded as the next asset would load it."""
        store = LocalArtifactStore(self.home)
        ref = store.latest(SCOPE.key(asset).to_user_string(), None)
        assert ref is not None, f"{asset} was not stored"
        return codecs.decode(store.read(ref), ref.suffix)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    """Run once per module (the folder holds a 50 MiB record) with a private GXP_HOME."""
    root = tmp_path_factory.mktemp("hostile_assets")
    folder, home = root / "hostile", root / "home"
    write_all(folder, exclude={GARBAGE})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GXP_HOME", str(home))
        yield HostileRun(folder, home, run(folder, home))


def records(result: ExecuteInProcessResult, asset: str) -> int:
    """The ``records`` metadata of the asset's materialization in this run."""
    events = [event for event in result.get_asset_materialization_events() if event.asset_key == SCOPE.key(asset)]
    assert len(events) == 1, f"{asset} materialized {len(events)} times"
    return events[0].materialization.metadata["records"].value


def error_chain(error: Any) -> str:
    """Messages of a serialized error and of everything it was raised from or during."""
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause or error.context
    return "\n".join(messages)


def test_hostile_folder_is_fully_accounted_for(hostile_run: HostileRun) -> None:
    result = hostile_run.result
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("records_reconciled", True)
    assert check.metadata["problems"].value == "none"
    received = records(result, "labelled_reports")
    assert received > 0
    assert records(result, "validated_reports") + records(result, "quarantined_reports") == received


def test_stored_quarantine_keeps_the_bytes_as_received(hostile_run: HostileRun) -> None:
    """Raw bytes survive Parquet and the content-addressed store, invalid UTF-8 and 50 MiB alike."""
    stored = hostile_run.stored("quarantined_reports").set_index("report_id")
    assert b"\xff\xfe\xfa" in stored.loc["invalid_utf8-1", "raw"]
    assert len(stored.loc["big_line-1", "raw"]) > BIG_TEXT_CHARS


def test_assets_give_every_record_the_same_fate_as_core(hostile_run: HostileRun) -> None:
    """What the asset graph decides must be what validate_reports decides on the files directly."""
    intake = load_contract_files(hostile_run.folder)
    expected = validate_reports(intake, ValidationRules(), now=datetime.now(UTC))
    valid, quarantined = hostile_run.stored("validated_reports"), hostile_run.stored("quarantined_reports")

    def fates(valid: pd.DataFrame, quarantined: pd.DataFrame) -> dict[int, str]:
        return {seq: "valid" for seq in valid["intake_seq"]} | dict(
            zip(quarantined["intake_seq"], quarantined["reason"], strict=True)
        )

    assert fates(valid, quarantined) == fates(expected.valid, expected.quarantined)
    assert sorted(valid["report_id"]) == sorted(expected.valid["report_id"])


def test_unreadable_file_fails_the_run_naming_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, folder = tmp_path / "home", tmp_path / "with_garbage"
    monkeypatch.setenv("GXP_HOME", str(home))
    folder.mkdir()
    (folder / "good.csv").write_text(csv_text([good_row("good", 1)]))
    garbage = write_garbage(folder)
    line = garbage.read_bytes().split(b"\x00", 1)[0].count(b"\n") + 1
    result = run(folder, home, raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == SCOPE.name("labelled_reports")
    message = error_chain(failure.step_failure_data.error)
    assert f"{GARBAGE}, line {line}: contains NUL bytes" in message
    assert not result.get_asset_materialization_events()  # nothing half-loaded was stored


def test_a_file_with_no_valid_record_stops_the_run_naming_why_and_keeps_the_quarantine(tmp_path: Path) -> None:
    """A ';'-separated file read as the contract's ','-separated one: every record quarantined, then a clear stop
    before anything featurizes no rows (it used to crash later with StopIteration)."""
    folder, home = tmp_path / "semicolons", tmp_path / "home"
    folder.mkdir()
    (folder / "reports.csv").write_text(csv_text([good_row("semi", n) for n in range(4)]).replace(",", ";"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GXP_HOME", str(home))
        result = run(folder, home, raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = error_chain(failure.step_failure_data.error)
    assert "0 of 4 records are valid; 4 quarantined: missing_field 4" in message and "reports.csv:2" in message
    quarantined = HostileRun(folder, home, result).stored("quarantined_reports")
    assert len(quarantined) == 4 and set(quarantined["reason"]) == {"missing_field"}
