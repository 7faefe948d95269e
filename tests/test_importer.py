"""The roster pipeline: reading, checking across rows and against the database, committing."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from openpyxl import Workbook

from enrollment import rules
from enrollment.importer import RosterRefused, read_roster, roster_import
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


def run(content, school, user, year, *, commit=False, **kwargs):
    return roster_import(
        content=content, school=school, year=year, user=user, commit=commit, **kwargs
    )


def test_check_without_commit_stores_nothing(school_1012, filer_1012, year, rows_1012, workbook):
    result = run(workbook(rows_1012(3)), school_1012, filer_1012, year)
    assert (result.rows, result.valid, result.inserted, result.committed) == (3, 3, 3, False)
    assert StudentRecord.objects.count() == 0


def test_commit_stores_valid_rows_with_their_fields(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    result = run(workbook(rows), school_1012, filer_1012, year, commit=True)
    assert (result.inserted, result.committed) == (3, True)
    record = StudentRecord.objects.get(id_number=rows[0]["证件号码"])
    assert record.name == rows[0]["姓名"]
    assert record.campus.code == rows[0]["总分校编码"]
    assert (
        record.registration_date == dt.datetime.strptime(rows[0]["报到注册日期"], "%Y%m%d").date()
    )
    assert record.school == school_1012 and record.enrollment_year == year
    assert record.created_by == filer_1012


def test_commit_skips_rows_with_errors_and_stores_the_rest(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    rows[1]["性别"] = "3"
    result = run(workbook(rows), school_1012, filer_1012, year, commit=True)
    assert (result.valid, result.inserted, result.rows_with_errors) == (2, 2, 1)
    assert not StudentRecord.objects.filter(id_number=rows[1]["证件号码"]).exists()


def test_errors_use_spreadsheet_row_numbers_with_header_as_row_1(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    rows[2]["民族"] = ""
    result = run(workbook(rows), school_1012, filer_1012, year)
    assert [(e.row, e.column) for e in result.errors] == [(4, "民族")]


def test_blank_rows_are_skipped_but_keep_numbering(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)
    rows[1]["民族"] = ""
    content = workbook([rows[0], {}, {"姓名": "   "}, rows[1]])
    result = run(content, school_1012, filer_1012, year)
    assert result.rows == 2
    assert [e.row for e in result.errors] == [5]


def test_many_trailing_blank_rows_are_ignored(school_1012, filer_1012, year, rows_1012, workbook):
    content = workbook(rows_1012(2) + [{"姓名": " ", "学号": ""}] * 20000)
    result = run(content, school_1012, filer_1012, year)
    assert (result.rows, result.valid) == (2, 2)


def test_reupload_of_same_file_is_unchanged(school_1012, filer_1012, year, rows_1012, workbook):
    content = workbook(rows_1012(3))
    run(content, school_1012, filer_1012, year, commit=True)
    result = run(content, school_1012, filer_1012, year, commit=True)
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
    assert StudentRecord.objects.count() == 3


def test_reupload_of_an_unchanged_roster_writes_nothing(
    school_1012, filer_1012, year, rows_1012, workbook
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    content = workbook(rows_1012(30))
    roster_import(content=content, school=school_1012, year=year, user=filer_1012, commit=True)
    with CaptureQueriesContext(connection) as captured:
        result = roster_import(
            content=content, school=school_1012, year=year, user=filer_1012, commit=True
        )
    writes = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE", "COPY"}
    ]
    assert result.unchanged == 30 and writes == []


def test_reupload_updates_existing_record_instead_of_duplicating(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)
    run(workbook(rows), school_1012, filer_1012, year, commit=True)
    rows[0]["专业"] = "人工智能"
    result = run(workbook(rows), school_1012, filer_1012, year, commit=True)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    assert StudentRecord.objects.get(id_number=rows[0]["证件号码"]).major == "人工智能"
    assert StudentRecord.objects.count() == 2


def test_preview_lists_field_changes_from_old_to_new(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(1)
    old_major = rows[0]["专业"]
    run(workbook(rows), school_1012, filer_1012, year, commit=True)
    rows[0]["专业"] = "人工智能"
    result = run(workbook(rows), school_1012, filer_1012, year)
    assert result.changes == [
        {
            "row": 2,
            "person": rules.describe_person(
                {"name": rows[0]["姓名"], "id_number": rows[0]["证件号码"]}
            ),
            "changes": [{"column": "专业", "old": old_major, "new": "人工智能"}],
        }
    ]
    assert StudentRecord.objects.get().major == old_major


def test_change_preview_masks_phone_numbers(school_1012, filer_1012, year, rows_1012, workbook):
    rows = rows_1012(1)
    run(workbook(rows), school_1012, filer_1012, year, commit=True)
    old_phone = rows[0]["联系电话"]
    rows[0]["联系电话"] = "13700001111"
    result = run(workbook(rows), school_1012, filer_1012, year)
    change = result.changes[0]["changes"][0]
    assert change == {
        "column": "联系电话",
        "old": old_phone[:3] + "****" + old_phone[-4:],
        "new": "137****1111",
    }
    assert rows[0]["证件号码"] not in str(result.changes)


def test_same_id_twice_in_one_file_marks_both_rows(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(3)
    rows[2] = dict(rows[0], 学号="X-999")
    result = run(workbook(rows), school_1012, filer_1012, year)
    duplicates = [(e.row, e.column) for e in result.errors]
    assert duplicates == [(2, "证件号码"), (4, "证件号码")]
    assert "第 4 行" in result.errors[0].message
    assert result.valid == 1


def test_same_student_number_twice_in_one_file_is_an_error(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)
    rows[1]["学号"] = rows[0]["学号"]
    result = run(workbook(rows), school_1012, filer_1012, year)
    assert {(e.row, e.column) for e in result.errors} == {(2, "学号"), (3, "学号")}


def test_student_number_of_another_stored_student_is_an_error(
    school_1012, filer_1012, year, rows_1012, workbook
):
    stored, new = rows_1012(2)
    run(workbook([stored]), school_1012, filer_1012, year, commit=True)
    new["学号"] = stored["学号"]
    result = run(workbook([new]), school_1012, filer_1012, year)
    assert [(e.row, e.column) for e in result.errors] == [(2, "学号")]


def test_row_of_another_school_is_an_error(school_1012, filer_1012, year, rows_1012, workbook):
    rows = rows_1012(2)
    rows[1]["总分校编码"] = "101300"
    result = run(workbook(rows), school_1012, filer_1012, year)
    assert [(e.row, e.column) for e in result.errors] == [(3, "总分校编码")]
    assert "一次只能上传一所院校" in result.errors[0].message


def test_rows_of_a_campus_outside_the_handlers_scope_are_errors(
    school_1012, handler_xuhui, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)  # alternates 101200 (闵行, not 徐汇's) and 101201 (徐汇)
    result = run(workbook(rows), school_1012, handler_xuhui, year)
    assert [(e.row, e.column) for e in result.errors] == [(2, "总分校编码")]
    assert result.valid == 1


def test_numeric_id_cell_refuses_that_row_only(school_1012, filer_1012, year, rows_1012, workbook):
    rows = rows_1012(2)
    rows[0]["证件号码"] = float(rows[0]["证件号码"][:17] + "0")
    result = run(workbook(rows), school_1012, filer_1012, year)
    assert [(e.row, e.column) for e in result.errors] == [(2, "证件号码")]
    assert "文本" in result.errors[0].message
    assert result.valid == 1


def test_date_and_number_cells_are_normalised(school_1012, filer_1012, year, rows_1012, workbook):
    rows = rows_1012(1)
    row = dict(rows[0])
    row["报到注册日期"] = dt.date(year, 9, 1)
    row["出生日期"] = dt.datetime.strptime(row["出生日期"], "%Y%m%d")
    row["学号"] = 12345.0
    row["状态"] = 0
    result = run(workbook([row]), school_1012, filer_1012, year, commit=True)
    assert result.errors == []
    record = StudentRecord.objects.get()
    assert (record.student_number, record.status, record.registration_date) == (
        "12345",
        "00",
        dt.date(year, 9, 1),
    )


def test_headers_with_spaces_and_full_width_characters_are_accepted(
    school_1012, filer_1012, year, rows_1012, workbook
):
    headers = [f" {h[0]}　{h[1:]} " for h in rules.HEADERS]
    rows = [
        {messy: row[clean] for messy, clean in zip(headers, rules.HEADERS, strict=True)}
        for row in rows_1012(2)
    ]
    result = run(workbook(rows, headers=headers), school_1012, filer_1012, year)
    assert (result.rows, result.valid) == (2, 2)


def test_reordered_headers_are_mapped_by_name(school_1012, filer_1012, year, rows_1012, workbook):
    headers = list(reversed(rules.HEADERS))
    result = run(workbook(rows_1012(2), headers=headers), school_1012, filer_1012, year)
    assert (result.rows, result.valid) == (2, 2)


def test_error_column_of_our_own_error_workbook_is_ignored(
    school_1012, filer_1012, year, rows_1012, workbook
):
    headers = [*rules.HEADERS, "错误说明"]
    rows = [dict(row, 错误说明="性别：…") for row in rows_1012(2)]
    result = run(workbook(rows, headers=headers), school_1012, filer_1012, year)
    assert (result.rows, result.valid) == (2, 2)


def test_other_headers_refuse_the_whole_file_showing_expected_and_found(
    school_1012, filer_1012, year, rows_1012, workbook
):
    headers = [*rules.HEADERS[:-1], "是否参保"]
    rows = [dict(row, 是否参保="1") for row in rows_1012(1)]
    with pytest.raises(RosterRefused) as refused:
        run(workbook(rows, headers=headers), school_1012, filer_1012, year)
    assert "缺少：参保意愿" in refused.value.message
    assert "多出：是否参保" in refused.value.message
    assert refused.value.expected == list(rules.HEADERS)
    assert refused.value.found[-1] == "是否参保"


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "空"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        ("姓名,证件类型\n张三,1\n".encode(), ".xlsx"),
        (b"PK\x03\x04" + b"broken" * 20, "损坏"),
    ],
    ids=["empty", "old-xls", "csv", "damaged-zip"],
)
def test_files_that_are_not_xlsx_are_refused_with_a_message(content, phrase):
    with pytest.raises(RosterRefused) as refused:
        read_roster(content)
    assert phrase in refused.value.message


def test_sheet_without_any_cell_is_refused():
    buffer = io.BytesIO()
    Workbook().save(buffer)
    with pytest.raises(RosterRefused):
        read_roster(buffer.getvalue())


def test_every_row_is_checked_and_progress_reported(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(4500)
    rows[-1]["性别"] = "9"
    seen = []
    result = run(
        workbook(rows), school_1012, filer_1012, year, progress=lambda n, t: seen.append((n, t))
    )
    assert result.rows == 4500
    assert [e.row for e in result.errors] == [4501]
    assert seen[0] == (2000, 4500) and seen[-1] == (4500, 4500)


def test_commit_is_all_or_nothing(school_1012, filer_1012, year, rows_1012, workbook, monkeypatch):
    from enrollment import importer

    original = importer._store

    def store_then_fail(plan, **kwargs):
        original(plan, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "_store", store_then_fail)
    with pytest.raises(RuntimeError):
        run(workbook(rows_1012(3)), school_1012, filer_1012, year, commit=True)
    assert StudentRecord.objects.count() == 0


def test_commit_checks_again_against_records_stored_since_the_preview(
    school_1012, filer_1012, year, rows_1012, workbook
):
    rows = rows_1012(2)
    content = workbook(rows)
    preview = run(content, school_1012, filer_1012, year)
    assert preview.inserted == 2
    run(workbook(rows[:1]), school_1012, filer_1012, year, commit=True)  # another filer, meanwhile
    result = run(content, school_1012, filer_1012, year, commit=True)
    assert (result.inserted, result.unchanged) == (1, 1)
    assert StudentRecord.objects.count() == 2


def test_same_person_may_be_on_two_schools_rosters(
    registry, filer_1012, filer_1014, year, rows_1012, workbook
):
    row = rows_1012(1)[0]
    run(workbook([row]), registry["schools"]["1012"], filer_1012, year, commit=True)
    other = dict(row, 总分校编码="101400")
    result = run(workbook([other]), registry["schools"]["1014"], filer_1014, year, commit=True)
    assert result.inserted == 1
    assert StudentRecord.objects.filter(id_number=row["证件号码"]).count() == 2


def test_logs_never_contain_id_or_phone(school_1012, filer_1012, year, rows_1012, workbook, caplog):
    rows = rows_1012(3)
    rows[0]["性别"] = "3"
    rows[1]["证件号码"] = rows[1]["证件号码"][:-1] + (
        "0" if rows[1]["证件号码"][-1] != "0" else "1"
    )
    caplog.set_level(logging.DEBUG)
    result = run(workbook(rows), school_1012, filer_1012, year, commit=True)
    text = caplog.text + str(result.as_dict())
    for row in rows:
        assert row["证件号码"] not in text
        assert row["联系电话"] not in text


def test_backup_handler_cannot_take_over_another_campus_record(
    school_1012, filer_1012, handler_xuhui, year, rows_1012, workbook
):
    rows = rows_1012(2)
    run(workbook(rows), school_1012, filer_1012, year, commit=True)
    main_campus_row = next(row for row in rows if row["总分校编码"] == "101200")
    takeover = dict(main_campus_row, 总分校编码="101201", 联系电话="13700000000")
    result = run(workbook([takeover]), school_1012, handler_xuhui, year, commit=True)
    assert [(e.row, e.column) for e in result.errors] == [(2, "证件号码")]
    assert result.changes == [] and main_campus_row["联系地址"] not in str(result.as_dict())
    record = StudentRecord.objects.get(id_number=main_campus_row["证件号码"])
    assert (record.campus_code, record.phone) == ("101200", main_campus_row["联系电话"])


# --- real-world rosters (issue 10): a title row, a 序号 column, starred headers, labels -------


def _real_world_roster(rows: list[dict[str, str]]) -> bytes:
    """A roster as schools keep it: a title row, a blank line, 序号 first, * on required headers,
    labels instead of codes, phones and postcodes as people type them."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["上海某某大学 2026 级新生报到注册名单（居保参保用）"])
    sheet.append([])
    sheet.append(["序号", *(f"*{header}" for header in rules.HEADERS)])
    labels = {"性别": {"1": "男", "2": "女"}, "学历": {"1": "本科", "4": "研究生"}}
    for number, row in enumerate(rows, start=1):
        typed = dict(row)
        typed["证件类型"] = "身份证"
        typed["状态"] = "在校"
        typed["参保意愿"] = "参加"
        typed["性别"] = labels["性别"][row["性别"]]
        typed["学历"] = labels["学历"][row["学历"]]
        phone = row["联系电话"]
        typed["联系电话"] = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
        typed["联系邮编"] = row["联系邮编"][:3] + " " + row["联系邮编"][3:]
        cells = [number, *(typed[header] for header in rules.HEADERS)]
        sheet.append(cells)
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s" if isinstance(cell.value, str) else cell.data_type
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_roster_with_title_row_serial_column_starred_headers_labels_and_formatted_phones_imports(
    school_1012, filer_1012, year, rows_1012
):
    rows = rows_1012(10)
    result = run(_real_world_roster(rows), school_1012, filer_1012, year, commit=True)
    assert result.errors == []
    assert (result.rows, result.inserted) == (10, 10)
    record = StudentRecord.objects.get(id_number=rows[0]["证件号码"])
    assert (record.id_type, record.status, record.willingness) == ("1", "00", "1")
    assert record.sex == rows[0]["性别"] and record.education == rows[0]["学历"]
    assert record.phone == rows[0]["联系电话"]
    assert record.postcode == rows[0]["联系邮编"]


def test_errors_of_a_roster_with_a_title_row_name_the_real_spreadsheet_rows(
    school_1012, filer_1012, year, rows_1012
):
    rows = rows_1012(2)
    rows[1]["性别"] = "1" if rows[1]["性别"] == "2" else "2"  # disagrees with the ID number
    content = _real_world_roster(rows)
    result = run(content, school_1012, filer_1012, year)
    assert [(error.row, error.column) for error in result.errors] == [(5, "性别")]


def test_header_row_that_is_not_found_is_reported_by_the_row_that_resembles_it_most(
    school_1012, filer_1012, year
):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["新生名单"])
    sheet.append(["姓名", "证件类型", "证件号码", "身份"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(RosterRefused) as refused:
        run(buffer.getvalue(), school_1012, filer_1012, year)
    assert "第 2 行的表头" in refused.value.message and "缺少" in refused.value.message
