"""Journey 4: a hostile roster file is refused with a message, and the site keeps answering."""

from __future__ import annotations

import io

from openpyxl import Workbook
from playwright.sync_api import Page, expect

from e2e.conftest import log_in
from e2e.journey import Journey
from e2e.stack import Stack


def far_corner_workbook() -> bytes:
    """A few KB that claim a sheet of 16,384 × 1,048,576 cells (A1 and XFD1048576)."""
    workbook = Workbook()
    workbook.active["A1"] = "姓名"
    workbook.active["XFD1048576"] = "x"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_hostile_file_is_refused_with_a_message_while_the_site_keeps_answering(
    page: Page, journey: Journey, stack: Stack, tmp_path
):
    hostile = tmp_path / "1012-新生名单.xlsx"
    hostile.write_bytes(far_corner_workbook())
    assert hostile.stat().st_size < 8 * 1024
    log_in(page, journey, "filer1012")
    journey.check(page, "dashboard")
    page.goto("/enrollment/uploads/new/")
    journey.check(page, "upload-form")
    page.select_option("#id_school", label="1012 上海某某大学")
    page.set_input_files("#id_file", str(hostile))
    page.click("button:has-text('上传并检查')")
    # Refused, whether at the form or by the worker's check: a message, and nothing to commit.
    refusal = page.locator("[role=alert]")
    expect(refusal).to_be_visible(timeout=30_000)
    assert refusal.inner_text().strip()
    expect(page.locator(".stats")).to_have_count(0)
    journey.check(page, "refused")
    assert stack.get("/healthz") == (200, {"status": "ok"})
    page.goto("/enrollment/")
    expect(page.locator("h1")).to_contain_text("工作台")
