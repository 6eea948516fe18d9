"""From the real web UI, in a real browser, the training job materializes, and the evaluation's plots show there."""

from __future__ import annotations

import base64
import contextlib
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gxp_assets_tests.e2e.conftest import DagsterDev

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun
    from playwright.sync_api import Page

JOB = "ae_triage__train_model"
EVALUATION = "ae_triage/model_evaluation"  # the asset key, as the run's events and the asset page's URL name it
#: The metadata row whose "[Show Markdown]" dialog draws the ROC curve, an embedded PNG.
PLOT_ROW = "plot_roc"
UI_TIMEOUT_MS = 60_000
#: The launched run: queued, dequeued by the daemon, then the default 1,000 demo documents' training (trees and the
#: sentence network: about two minutes on 2 quiet cores, past six on a loaded CI machine). A guard against a hung
#: run, not a measurement.
RUN_TIMEOUT_S = 900.0
RUN_POLL_INTERVAL_S = 2.0
PNG_DATA_URL = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: For a human to look at; the copy under tmp_path is the test's.
HUMAN_SCREENSHOT = Path("/tmp/webui_plot.png")


def runs_of(instance: DagsterInstance, job: str) -> dict[str, DagsterRun]:
    from dagster import RunsFilter

    return {run.run_id: run for run in instance.get_runs(filters=RunsFilter(job_name=job))}


def launch_from_job_page(page: Page, base_url: str) -> str:
    """Open the job's page as a user does (from the jobs list), click "Materialize all"; the launched run's short id."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/jobs", timeout=UI_TIMEOUT_MS)
    # By href and text: the link's accessible name also holds its icon's label.
    job_link = page.locator(f'a[href$="/jobs/{JOB}"]').filter(has_text=re.compile(rf"^{JOB}$"))
    expect(job_link, f"one link to job {JOB} in the jobs list").to_have_count(1, timeout=UI_TIMEOUT_MS)
    job_link.click(timeout=UI_TIMEOUT_MS)
    # /locations/<code location>/jobs/train_model; the code location is named by workspace.yaml's module:attribute.
    expect(page).to_have_url(re.compile(rf"/locations/[^/]+/jobs/{JOB}(\?|$)"), timeout=UI_TIMEOUT_MS)

    # All the job's config has defaults, so the button launches at once: no launchpad, no config dialog.
    # By its text: the accessible name also holds its icon's label ("materialization Materialize all").
    materialize = page.get_by_role("button").filter(has_text=re.compile(r"^Materialize all$"))
    expect(materialize, "one 'Materialize all' button").to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(materialize).to_be_enabled(timeout=UI_TIMEOUT_MS)
    materialize.click(timeout=UI_TIMEOUT_MS)

    toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
    expect(toast, "the 'Launched run <id>' toast").to_be_visible(timeout=UI_TIMEOUT_MS)
    return toast.inner_text().split()[-1]


def wait_for_launched_run(instance: DagsterInstance, before: set[str], short_id: str, dev: DagsterDev) -> DagsterRun:
    """The one new run of the job, once finished; it starts with the toast's id. Bounded by RUN_TIMEOUT_S."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        new = [run for run_id, run in runs_of(instance, JOB).items() if run_id not in before]
        assert len(new) <= 1, f"one click launched {len(new)} runs of {JOB}: {[run.run_id for run in new]}"
        if new:
            (run,) = new
            assert run.run_id.startswith(short_id), f"run {run.run_id} is not the launched run {short_id}"
            if run.is_finished:
                return run
        if time.monotonic() > deadline:
            status = new[0].status.value if new else "not in the instance"
            pytest.fail(
                f"run {short_id} of {JOB} not finished within {RUN_TIMEOUT_S:.0f} s (status: {status});"
                f" dagster dev log:\n{dev.log_tail()}",
                pytrace=False,
            )
        time.sleep(RUN_POLL_INTERVAL_S)


def failure_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    from dagster import DagsterEventType

    failures = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    return [
        f"{entry.step_key or 'run'}: {entry.dagster_event.message or entry.user_message}"
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is not None and entry.dagster_event.event_type in failures
    ]


def materialized_assets(instance: DagsterInstance, run_id: str) -> set[str]:
    from dagster import DagsterEventType

    return {
        entry.dagster_event.asset_key.to_user_string()
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if entry.dagster_event is not None and entry.dagster_event.asset_key is not None
    }


@pytest.mark.e2e
def test_train_model_materializes_from_the_ui_and_its_roc_plot_shows(
    chromium_path: Path,
    dagster_dev: DagsterDev,
    browser_page: Page,
    tmp_path: Path,
) -> None:
    from dagster import DagsterInstance, DagsterRunStatus
    from playwright.sync_api import expect

    page = browser_page
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    step = "launch"

    try:
        with DagsterInstance.get() as instance:  # the same DAGSTER_HOME as dagster dev's
            before = set(runs_of(instance, JOB))
            short_id = launch_from_job_page(page, dagster_dev.base_url)
            launched = time.monotonic()

            step = f"run {short_id}"
            run = wait_for_launched_run(instance, before, short_id, dagster_dev)
            seconds = time.monotonic() - launched
            assert run.status == DagsterRunStatus.SUCCESS, (
                f"run {run.run_id} of {JOB} ended {run.status.value} after {seconds:.0f} s:"
                f" {failure_messages(instance, run.run_id) or 'no failure events'}"
            )
            assert EVALUATION in materialized_assets(instance, run.run_id), f"run {run.run_id} left {EVALUATION} out"
            print(f"run {run.run_id} of {JOB}: SUCCESS {seconds:.0f} s after its toast")

        step = f"{EVALUATION} events"
        page.goto(f"{dagster_dev.base_url}/assets/{EVALUATION}?view=events", timeout=UI_TIMEOUT_MS)
        expect(page.get_by_text(f"Materialized in run {run.run_id[:8]}", exact=True)).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        # The metadata table's row labelled plot_roc, wherever it is among the others.
        row = page.locator("tr").filter(has=page.get_by_text(PLOT_ROW, exact=True))
        expect(row, f"one metadata row {PLOT_ROW}").to_have_count(1, timeout=UI_TIMEOUT_MS)
        row.get_by_text("[Show Markdown]", exact=True).click(timeout=UI_TIMEOUT_MS)

        step = f"{PLOT_ROW} dialog"
        dialog = page.get_by_role("dialog").filter(has_text=PLOT_ROW)
        expect(dialog, f"the {PLOT_ROW} dialog").to_be_visible(timeout=UI_TIMEOUT_MS)
        image = dialog.locator("img")
        expect(image, f"one image in the {PLOT_ROW} dialog").to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(image).to_have_attribute("src", re.compile(rf"^{re.escape(PNG_DATA_URL)}"), timeout=UI_TIMEOUT_MS)
        expect(image).to_be_visible(timeout=UI_TIMEOUT_MS)
        # Decoded by the browser, not merely present: wait (bounded) until it has loaded, then read its size.
        page.wait_for_function(
            "image => image.complete && image.naturalWidth > 0", arg=image.element_handle(), timeout=UI_TIMEOUT_MS
        )
        width, height = image.evaluate("image => [image.naturalWidth, image.naturalHeight]")
        assert width > 0 and height > 0, f"the {PLOT_ROW} image is {width}x{height}"
        src = image.get_attribute("src") or ""
        assert base64.b64decode(src.removeprefix(PNG_DATA_URL)).startswith(PNG_SIGNATURE)
        print(f"{PLOT_ROW}: a {width}x{height} PNG drawn in the dialog")

        screenshot = tmp_path / "webui_plot_roc.png"
        page.screenshot(path=str(screenshot))
        assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
        with contextlib.suppress(OSError):
            shutil.copyfile(screenshot, HUMAN_SCREENSHOT)
    except Exception as error:  # assertions, and Playwright's timeouts
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / "webui_plot_failure.png"))
        error.add_note(f"step {step!r}; page: {page.url}; uncaught page errors: {page_errors or 'none'}")
        raise
