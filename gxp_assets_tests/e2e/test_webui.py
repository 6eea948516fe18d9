"""The real web UI, in a real browser, draws the lineage of the data assets and shows them materialized."""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from gxp_assets_tests.e2e.conftest import DATA_ASSETS, DATA_GROUP, MODEL_ASSETS, MODEL_GROUP, USE_CASE

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

#: Dagster 1.13's "Global asset lineage" page (``/assets?view=lineage`` is the catalog table, no graph). With more than
#: one asset group it draws every group as one collapsed node and none of the assets in it, so the test opens it
#: filtered to one group, as the catalog's group links do (``/asset-groups~group:"data"/<asset>``): then it draws
#: that group's assets as full nodes, in a graph small enough to fit the page at a readable zoom.
LINEAGE_PATH = "/asset-groups"
UI_TIMEOUT_MS = 60_000
#: For a human to look at; the copies under tmp_path are the test's.
HUMAN_SCREENSHOTS = {DATA_GROUP: Path("/tmp/webui_lineage.png"), MODEL_GROUP: Path("/tmp/webui_lineage_model.png")}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def group_lineage_path(stage: str) -> str:
    """The global asset lineage filtered to one stage of the use case's group (``group:"ae_triage"`` and the asset
    tag ``stage``), small enough to draw full nodes."""
    selection = f'group:"{USE_CASE}" and tag:"stage"="{stage}"'
    return f"{LINEAGE_PATH}~{quote(selection, safe='')}"


def open_group_lineage(page: Page, base_url: str, group: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}{group_lineage_path(group)}", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)


def expect_asset_node(page: Page, name: str) -> Locator:
    """The one visible graph node of asset ``name``."""
    from playwright.sync_api import expect

    # Graph nodes are HTML inside the SVG's foreignObjects; the sidebar lists the same names outside it. A node names
    # the asset by its key, the use case's prefix first.
    label = re.compile(rf"^({re.escape(USE_CASE)}\s*/\s*)?{re.escape(name)}$")
    node = page.locator("svg foreignObject").filter(has=page.get_by_text(label))
    expect(node, f"one graph node for {name}").to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(node, f"graph node for {name}").to_be_visible(timeout=UI_TIMEOUT_MS)
    return node


def save_screenshot(page: Page, group: str, tmp_path: Path) -> None:
    screenshot = tmp_path / f"webui_lineage_{group}.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    with contextlib.suppress(OSError):
        shutil.copyfile(screenshot, HUMAN_SCREENSHOTS[group])


@pytest.mark.e2e
def test_lineage_page_draws_every_data_asset_as_materialized(
    chromium_path: Path,
    materialized_run_id: str,
    webserver: str,
    browser_page: Page,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    group = DATA_GROUP

    try:
        open_group_lineage(page, webserver, group)
        for name in DATA_ASSETS:
            node = expect_asset_node(page, name)
            # The status row reads "Materialized" (not "Never materialized") and links to the run that did it.
            expect(node.get_by_text("Materialized", exact=True), f"{name} shown as materialized").to_be_visible(
                timeout=UI_TIMEOUT_MS
            )
            expect(
                node.locator(f'a[href^="/runs/{materialized_run_id}"]').first,
                f"{name} linked to run {materialized_run_id}",
            ).to_be_visible(timeout=UI_TIMEOUT_MS)
        save_screenshot(page, group, tmp_path)

        # prepare_training_data leaves the model group alone: its assets are drawn, never materialized.
        group = MODEL_GROUP
        open_group_lineage(page, webserver, group)
        for name in MODEL_ASSETS:
            node = expect_asset_node(page, name)
            expect(
                node.get_by_text("Never materialized", exact=True), f"{name} shown as never materialized"
            ).to_be_visible(timeout=UI_TIMEOUT_MS)
        save_screenshot(page, group, tmp_path)
    except AssertionError as error:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / f"webui_lineage_{group}_failure.png"))
        error.add_note(f"group {group!r}; page: {page.url}; uncaught page errors: {page_errors or 'none'}")
        raise


#: The stages a person looks for in the UI, one job each, and what starts them.
JOBS = tuple(f"{USE_CASE}__{name}" for name in ("train_model", "promote_model", "score_batch", "monitor_performance"))
AUTOMATIONS = tuple(f"{USE_CASE}__{name}" for name in ("approved_models", "landing_files", "retraining_triggers",
                                                       "routine_retraining"))  # fmt: skip


@pytest.mark.e2e
def test_jobs_and_automations_are_listed_by_name(chromium_path: Path, webserver: str, browser_page: Page) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{webserver}/jobs", timeout=UI_TIMEOUT_MS)
    for name in JOBS:
        expect(page.get_by_text(name, exact=True).first, f"job {name} listed").to_be_visible(timeout=UI_TIMEOUT_MS)
    page.goto(f"{webserver}/automation", timeout=UI_TIMEOUT_MS)
    for name in AUTOMATIONS:
        expect(page.get_by_text(name, exact=True).first, f"{name} listed").to_be_visible(timeout=UI_TIMEOUT_MS)
