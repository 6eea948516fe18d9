"""The validation report as an inspector opens and prints it: headless Chromium renders the page, a screenshot of
its first printed page is not blank, the banners people must see are visible, and it prints to several A4 pages."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from gxp_assets.governance.registry import record_hash
from gxp_assets_tests.governance.test_validation_report import generation, record, render, signature

A4_AT_96_DPI = {"width": 794, "height": 1123}


@pytest.mark.e2e
def test_the_report_renders_and_prints_in_chromium(chromium_path: Path, browser_page, tmp_path: Path) -> None:
    from PIL import Image

    digest = record_hash(record())
    sigs = [signature(digest, "Quinn Quality (DEMO ONLY)", "quinn", "2026-03-14T10:00:00+00:00")]
    html = render(sigs=sigs, context=generation(digest))[0]
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    page = browser_page
    page.set_viewport_size(A4_AT_96_DPI)
    page.goto(path.as_uri())
    page.emulate_media(media="print")
    assert page.get_by_text("DEMO: signed with DEMO-ONLY keys").is_visible()
    assert page.get_by_text("Verified at generation: every control verified").is_visible()
    assert page.get_by_role("heading", name=re.compile("Validation report: model")).is_visible()
    shot = page.screenshot()
    (tmp_path / "report-first-page.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("L")
    assert image.size == (A4_AT_96_DPI["width"], A4_AT_96_DPI["height"])
    inked = sum(count for level, count in enumerate(image.histogram()) if level < 200)
    assert inked > 0.02 * image.size[0] * image.size[1]  # text, tables and banners, not a blank page
    pdf = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 3  # one section per printed page at least
