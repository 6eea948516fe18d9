"""Under `dagster dev`'s daemon, a batch file dropped in the landing zone is scored once the sensor is turned on
from the UI, as an operator does it: real daemon, real sensor ticks, real run workers."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gxp_assets_tests.e2e.conftest import DagsterDev

if TYPE_CHECKING:
    from playwright.sync_api import Page

USE_CASE = "ae_triage"
SENSOR = f"{USE_CASE}__landing_files"
SCORE_JOB = f"{USE_CASE}__score_batch"
UI_TIMEOUT_MS = 60_000
#: A sensor tick comes within about 30 s of turning it on; the run then takes seconds on a small batch.
RUN_TIMEOUT_S = 240.0
SMALL_TRAINING = {
    "ops": {
        "labelled_reports": {"config": {"format": "demo", "demo_documents": 250}},
        "ae_classifier": {"config": {"max_rounds": 80, "early_stopping_rounds": 15, "num_threads": 1}},
    }
}


def active_model_in(instance, monkeypatch: pytest.MonkeyPatch) -> str:
    """Train, approve with the DEMO-ONLY keys and promote, in the instance dagster dev serves."""
    from gxp_assets.cli.demo import ensure_demo_signers, sign_demo_approvals
    from gxp_assets.cli.runs import promote
    from gxp_assets.definitions import SCOPES, defs
    from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
    from gxp_assets.stores import open_governance

    monkeypatch.setenv("GXP_ROLES", str(ensure_demo_signers()))
    scope = SCOPES[USE_CASE]
    trained = defs.resolve_job_def(scope.name("train_model")).execute_in_process(
        instance=instance, run_config=scope.run_config(SMALL_TRAINING), tags={LAUNCHED_BY_TAG: "alice"}
    )
    assert trained.success
    version = open_governance().registry.versions()[-1].version
    assert sign_demo_approvals(version) and promote(version)
    return version


def turn_on_sensor(page: Page, base_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/automation", timeout=UI_TIMEOUT_MS)
    # Dagster 1.13 lists automations as items: a selection checkbox on the left, the on/off switch on the right.
    item = page.locator('[class*="ListItem_listItem__"]').filter(has=page.get_by_text(SENSOR, exact=True))
    expect(item, f"one item for sensor {SENSOR}").to_have_count(1, timeout=UI_TIMEOUT_MS)
    label = item.locator('[class*="ListItem_right"] label[class*="formatSwitch"]')
    switch = label.locator('input[type="checkbox"]')
    expect(switch, "its on/off switch").to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(switch).to_be_enabled(timeout=UI_TIMEOUT_MS)  # disabled while the sensor's state loads
    expect(switch).not_to_be_checked(timeout=UI_TIMEOUT_MS)  # Dagster starts sensors off
    label.click(timeout=UI_TIMEOUT_MS)  # the input itself is hidden under its styled track
    expect(switch).to_be_checked(timeout=UI_TIMEOUT_MS)


@pytest.mark.e2e
def test_a_dropped_batch_is_scored_by_the_daemon_once_the_sensor_is_on(
    chromium_path: Path, dagster_dev: DagsterDev, browser_page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from gxp_assets.core.demo_data import demo_batch
    from gxp_assets.core.hashing import sha256_file
    from gxp_assets.stores import landing_zone, results_store
    from gxp_assets.stores.landing import REPORTS, batch_key

    with DagsterInstance.get() as instance:  # the same DAGSTER_HOME as dagster dev's
        version = active_model_in(instance, monkeypatch)
        path = landing_zone(USE_CASE).folder(REPORTS) / "social-batch.csv"
        demo_batch(30, 41, received_until=datetime.now(UTC)).to_csv(path, index=False)
        os.utime(path, (time.time() - 60, time.time() - 60))  # settled
        key = batch_key(path.name, sha256_file(path))

        turn_on_sensor(browser_page, dagster_dev.base_url)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            runs = instance.get_runs(filters=RunsFilter(job_name=SCORE_JOB))
            if runs and runs[0].is_finished:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no finished {SCORE_JOB} run within {RUN_TIMEOUT_S:.0f} s:\n{dagster_dev.log_tail()}")
            time.sleep(2.0)
        [run] = runs
        assert run.status == DagsterRunStatus.SUCCESS, dagster_dev.log_tail()
        assert run.tags["dagster/partition"] == key
        assert run.tags["dagster/run_key"] == sha256_file(path)  # the same content again would be the same key
        predictions = results_store().predictions(key)
        assert len(predictions) == len(demo_batch(30, 41)) and set(predictions["model_version"]) == {version}
