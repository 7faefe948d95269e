"""Journey 3: a district handler confirms ticked students on their behalf, exports who is
activated; a handler of another district sees none of them."""

from __future__ import annotations

import time

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from e2e.conftest import downloaded, log_in, log_out
from e2e.journey import Journey, search
from enrollment.masking import mask_id_number


def activation_row(page: Page, phone: str):
    return page.locator("tbody tr", has=page.locator(f"td:text-is('{phone}')"))


def wait_until_activated(page: Page, students: list[dict], *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.goto("/desk/activation/?status=activated")
        phones = page.locator("tbody td").all_inner_texts()
        if all(student["联系电话"] in phones for student in students):
            return
        assert time.monotonic() < deadline, "the worker did not activate them in time"
        time.sleep(1)


def test_handler_batch_confirms_ticked_students_and_another_district_sees_none(
    page: Page, journey: Journey, stored_1012, tmp_path
):
    ticked = [stored_1012[index] for index in (20, 22, 24)]  # campus 101200, in 闵行区
    log_in(page, journey, "handler_minhang")
    journey.check(page, "dashboard")
    page.goto("/desk/activation/")
    journey.check(page, "activation")
    page.select_option("#id_campus", label="101200 闵行校区（总校）")
    page.select_option("#id_status", "unconfirmed")
    page.click("form.toolbar button:has-text('查询')")
    for student in ticked:
        activation_row(page, student["联系电话"]).locator("input[name=ids]").check()
    page.check("#id_attested")
    journey.check(page, "activation-ticked")
    page.click("button:has-text('代确认勾选的学生')")

    page.wait_for_url("**/desk/batch/*/")
    batch_url = page.url
    # The page refreshes itself until the batch worker has finished.
    expect(page.locator(".stats")).to_be_visible(timeout=90_000)
    journey.check(page, "batch-finished")
    expect(page.locator(".stat", has_text="已代确认").locator("b")).to_have_text("3")

    wait_until_activated(page, ticked)
    journey.check(page, "activated")
    # The page masks ID numbers by default; the export below carries them in full.
    expect(activation_row(page, ticked[0]["联系电话"])).to_contain_text(
        mask_id_number(ticked[0]["证件号码"])
    )
    with page.expect_download() as download:
        page.click("text=导出列表")
    export = downloaded(download.value, tmp_path)
    assert export.name.startswith("新生人员账户激活与启用情况") and export.suffix == ".xlsx"
    sheet = load_workbook(export).active
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    exported = {row[header.index("联系电话")]: dict(zip(header, row, strict=True)) for row in rows}
    for student in ticked:
        line = exported[student["联系电话"]]
        assert line["姓名"] == student["姓名"]
        # The export carries the full ID number (the school's own data); the page masks it.
        assert line["证件号码"] == student["证件号码"]
        assert (line["学号"], line["学院"]) == (student["学号"], student["学院"])
        assert (line["是否激活"], line["确认渠道"]) == ("是", "院校代确认")
        assert line["代确认人"] == "闵行区医保中心 王经办"

    log_out(page)
    log_in(page, journey, "handler_pudong")
    page.goto("/desk/activation/")
    for student in ticked:
        expect(activation_row(page, student["联系电话"])).to_have_count(0)
    for student in ticked:
        search(page, "/desk/activation/", student["证件号码"])
        expect(page.locator("tbody")).to_contain_text("没有符合条件的学生")
    search(page, "/desk/query/", ticked[0]["证件号码"])
    journey.check(page, "query-out-of-scope")
    expect(page.locator("main")).to_contain_text("您的经办范围内没有找到")
    response = page.goto(batch_url)
    assert response.status == 404
    journey.check(page, "batch-of-another-handler")
