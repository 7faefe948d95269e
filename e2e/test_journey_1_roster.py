"""Journey 1: a filer uploads a roster with errors, corrects it from the error workbook, commits."""

from __future__ import annotations

import re

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from e2e.conftest import downloaded, log_in
from e2e.journey import Journey, search
from enrollment.demo import demo_rows, roster_workbook

SCHOOL = "1012 上海某某大学"


def wrong_check_character(id_number: str) -> str:
    return id_number[:-1] + ("0" if id_number[-1] != "0" else "1")


def upload(page: Page, journey: Journey, path, step: str) -> None:
    page.goto("/enrollment/uploads/new/")
    journey.check(page, "upload-form")
    page.select_option("#id_school", label=SCHOOL)
    page.set_input_files("#id_file", str(path))
    page.click("button:has-text('上传并检查')")
    # The page shows the worker's progress, then reloads itself with the preview.
    expect(page.locator(".stats")).to_be_visible(timeout=90_000)
    journey.check(page, step)


def stat(page: Page, label: str) -> int:
    return int(page.locator(".stat", has_text=label).locator("b").inner_text())


def test_filer_corrects_a_roster_from_its_error_workbook_and_commits_it(
    page: Page, journey: Journey, year: int, tmp_path
):
    rows = demo_rows(
        6, school_code="1012", campus_codes=["101200", "101201"], year=year, start=7000
    )
    # data row index -> (column, wrong value); spreadsheet row = index + 2 (header is row 1)
    mistakes = {
        1: ("证件号码", wrong_check_character(rows[1]["证件号码"])),
        3: ("报到注册日期", f"{year}0230"),
        4: ("总分校编码", "101400"),  # a campus of another school
    }
    with_errors = [dict(row) for row in rows]
    for index, (column, wrong) in mistakes.items():
        with_errors[index][column] = wrong
    first = tmp_path / "1012-新生名单-有错误.xlsx"
    first.write_bytes(roster_workbook(with_errors))

    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, journey, "filer1012")
    journey.check(page, "dashboard")
    upload(page, journey, first, "preview-with-errors")
    assert (stat(page, "有效"), stat(page, "有错误")) == (3, 3)
    listed = [
        [cell.inner_text().strip() for cell in row.locator("td").all()]
        for row in page.locator("table:has(th:text('问题与改正方法')) tbody tr").all()
    ]
    # 行, 姓名, 列, 填写的内容, 问题与改正方法: the student named, an ID number masked
    assert {(int(row), column) for row, _, column, _, _ in listed} == {
        (index + 2, column) for index, (column, _) in mistakes.items()
    }
    assert all(message for *_, message in listed)
    assert {name for _, name, *_ in listed} == {rows[index]["姓名"] for index in mistakes}
    wrong_id = mistakes[1][1]
    assert (wrong_id[:3] + "*****" + wrong_id[-2:]) in {value for _, _, _, value, _ in listed}
    assert wrong_id not in page.content()
    assert page.get_by_role("button", name=re.compile("提交 3 条有效记录")).is_enabled()

    with page.expect_download() as download:
        page.click("text=下载错误标注文件")
    error_workbook = downloaded(download.value, tmp_path)
    assert error_workbook.suffix == ".xlsx"
    workbook = load_workbook(error_workbook)
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    assert header[-1] == "错误说明"
    for index, (column, _) in mistakes.items():
        assert sheet.cell(index + 2, len(header)).value  # the row says what is wrong
        sheet.cell(index + 2, header.index(column) + 1).value = rows[index][column]
        sheet.cell(index + 2, len(header)).value = None
    corrected = tmp_path / "1012-新生名单-已改正.xlsx"
    workbook.save(corrected)

    upload(page, journey, corrected, "preview-corrected")
    assert (stat(page, "有效"), stat(page, "有错误"), stat(page, "将新增")) == (6, 0, 6)
    assert page.locator("text=错误明细").count() == 0
    page.click("button:has-text('提交 6 条有效记录')")
    expect(page.locator("text=已提交。")).to_be_visible(timeout=90_000)
    journey.check(page, "committed")
    assert stat(page, "已新增") == 6
    expect(page.get_by_role("link", name="查看记录", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="激活情况", exact=True)).to_be_visible()

    for number, row in enumerate(rows):
        search(page, "/enrollment/records/", row["学号"])
        if number == 0:
            journey.check(page, "records")
        listed = page.locator("tbody tr")
        expect(listed).to_have_count(1)
        expect(listed).to_contain_text(row["姓名"])
        expect(listed).to_contain_text(row["证件号码"])
        expect(listed).to_contain_text(row["报到注册日期"][:4])

    # An edit returns to the same search; the delete confirmation says whom it deletes.
    row = rows[2]
    search(page, "/enrollment/records/", row["学号"])
    listed_at = page.url
    page.locator("tbody tr").get_by_role("link", name="编辑").click()
    journey.check(page, "edit")
    page.fill("#id_major", "人工智能")
    page.click("button:has-text('保存')")
    page.wait_for_url(listed_at)
    expect(page.locator("tbody tr")).to_contain_text("人工智能")
    page.locator("tbody tr input[name=ids]").check()
    page.click("button:has-text('批量删除所选')")
    expect(page.locator("h1")).to_contain_text("确认删除 1 条记录")
    masked = row["证件号码"][:3] + "*****" + row["证件号码"][-2:]
    expect(page.locator("tbody tr")).to_contain_text(masked)
    expect(page.locator("tbody tr")).to_contain_text(row["学号"])
    journey.check(page, "delete-confirmation")
    page.click("text=取消")
    page.wait_for_url(listed_at)  # back to the same search
    journey.check(page, "records-after-cancel")
