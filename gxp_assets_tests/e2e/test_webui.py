"""The real web UI, in a real browser, draws the lineage of the data assets and shows them materialized."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gxp_assets_tests.e2e.conftest import DATA_ASSETS

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Dagster 1.13's "Global asset lineage" page (``/assets?view=lineage`` is the catalog table, no graph).
LINEAGE_PATH = "/asset-groups"
UI_TIMEOUT_MS = 60_000
#: For a human to look at; the copy under tmp_path is the test's.
HUMAN_SCREENSHOT = Path("/tmp/webui_lineage.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    page.goto(f"{webserver}{LINEAGE_PATH}", timeout=UI_TIMEOUT_MS)

    try:
        expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
        for name in DATA_ASSETS:
            # Graph nodes are HTML inside the SVG's foreignObjects; the sidebar lists the same names outside it.
            node = page.locator("svg foreignObject").filter(has=page.get_by_text(name, exact=True))
            expect(node, f"one graph node for {name}").to_have_count(1, timeout=UI_TIMEOUT_MS)
            expect(node, f"graph node for {name}").to_be_visible(timeout=UI_TIMEOUT_MS)
            # The status row reads "Materialized" (not "Never materialized") and links to the run that did it.
            expect(node.get_by_text("Materialized", exact=True), f"{name} shown as materialized").to_be_visible(
                timeout=UI_TIMEOUT_MS
            )
            expect(
                node.locator(f'a[href^="/runs/{materialized_run_id}"]').first,
                f"{name} linked to run {materialized_run_id}",
            ).to_be_visible(timeout=UI_TIMEOUT_MS)
    except AssertionError as error:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / "webui_lineage_failure.png"))
        error.add_note(f"page: {page.url}; uncaught page errors: {page_errors or 'none'}")
        raise

    screenshot = tmp_path / "webui_lineage.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    with contextlib.suppress(OSError):
        shutil.copyfile(screenshot, HUMAN_SCREENSHOT)
