"""`import_roster` on the same pipeline as the browser, and an idempotent `seed_demo`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from enrollment.models import StudentRecord
from schools.models import Campus, FilerDesignation, School, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def roster_file(tmp_path, rows_1012, workbook):
    def make(rows) -> str:
        path = tmp_path / "roster.xlsx"
        path.write_bytes(workbook(rows))
        return str(path)

    return make


def import_json(*args) -> dict:
    out = StringIO()
    call_command("import_roster", *args, "--json", stdout=out, stderr=StringIO())
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_dry_run_prints_one_json_object_and_stores_nothing(roster_file, rows_1012, city_admin):
    rows = rows_1012(3)
    rows[1]["性别"] = "3"
    result = import_json(roster_file(rows), "--school", "1012")
    assert result["rows"] == 3 and result["valid"] == 2 and result["committed"] is False
    assert result["errors"] == [
        {"row": 3, "column": "性别", "message": result["errors"][0]["message"]}
    ]
    assert set(result) >= {"rows", "valid", "errors", "inserted", "updated", "unchanged"}
    assert StudentRecord.objects.count() == 0


def test_commit_stores_valid_rows_then_reports_unchanged(roster_file, rows_1012, city_admin):
    path = roster_file(rows_1012(3))
    first = import_json(path, "--school", "1012", "--commit")
    second = import_json(path, "--school", "1012", "--commit")
    assert (first["inserted"], second["unchanged"]) == (3, 3)
    assert StudentRecord.objects.count() == 3


def test_a_commit_from_the_command_line_is_audited(roster_file, rows_1012, filer_1012):
    from audit.models import AuditEntry

    import_json(roster_file(rows_1012(2)), "--school", "1012", "--as-user", "filer1012")
    assert not AuditEntry.objects.filter(action="upload_committed").exists()  # a dry run
    import_json(roster_file(rows_1012(2)), "--school", "1012", "--as-user", "filer1012", "--commit")
    entry = AuditEntry.objects.get(action="upload_committed")
    assert entry.actor == filer_1012 and entry.detail["inserted"] == 2


def test_year_option_sets_the_registration_window(roster_file, rows_1012, city_admin, year):
    result = import_json(roster_file(rows_1012(2)), "--school", "1012", "--year", str(year - 1))
    assert result["valid"] == 0
    assert {error["column"] for error in result["errors"]} == {"报到注册日期"}


def test_as_user_applies_that_users_scope(roster_file, rows_1012, handler_xuhui, filer_1012):
    result = import_json(
        roster_file(rows_1012(2)), "--school", "1012", "--as-user", "handler_xuhui"
    )
    assert result["valid"] == 1


def test_refused_file_exits_non_zero_with_message(tmp_path, city_admin):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(b"hello")
    with pytest.raises(CommandError, match=r"不是 Excel \.xlsx"):
        call_command("import_roster", str(path), "--school", "1012", stdout=StringIO())


def test_file_past_the_upload_limit_is_refused_from_its_size_without_being_read(
    tmp_path, city_admin, monkeypatch
):
    from pathlib import Path

    from enrollment import spreadsheets

    path = tmp_path / "huge.xlsx"
    with path.open("wb") as sparse:
        sparse.truncate(spreadsheets.MAX_FILE_BYTES + 1)

    def never(self):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", never)
    with pytest.raises(CommandError) as refused:
        call_command("import_roster", str(path), "--school", "1012", stdout=StringIO())
    assert str(refused.value) == spreadsheets.file_too_large_message()


def test_unknown_school_exits_non_zero(roster_file, rows_1012, city_admin):
    with pytest.raises(CommandError, match="No school"):
        call_command(
            "import_roster", roster_file(rows_1012(1)), "--school", "9999", stdout=StringIO()
        )


def test_file_with_row_errors_is_not_a_failure(roster_file, rows_1012, city_admin):
    """Row errors are results (exit 0); only a refused file raises CommandError (exit 1)."""
    rows = rows_1012(1)
    rows[0]["民族"] = ""
    result = import_json(roster_file(rows), "--school", "1012")
    assert result["valid"] == 0 and result["errors"][0]["column"] == "民族"


def test_seed_demo_is_idempotent_and_builds_the_demo_registry(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    assert set(School.objects.values_list("code", flat=True)) == {"1012", "1013", "1014", "1015"}
    assert Campus.objects.get(code="101201").district.name == "徐汇区"
    assert not FilerDesignation.objects.filter(campus__code="101201").exists()
    assert not FilerDesignation.objects.filter(campus__school__code="1013").exists()
    assert School.objects.get(code="1015").status == School.Status.DEREGISTERED
    assert User.objects.filter(role=User.Role.DISTRICT_HANDLER).count() == 3
    assert FilerDesignation.objects.count() == 2


def test_seed_demo_roster_passes_validation(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    roster = next((tmp_path / "demo").glob("1012-*.xlsx"))
    result = import_json(str(roster), "--school", "1012", "--as-user", "filer1012")
    assert (result["rows"], result["valid"], result["errors"]) == (200, 200, [])


def test_seed_demo_fills_the_benefit_table_and_questions_and_keeps_admin_edits(settings, tmp_path):
    from confirmations.models import BenefitRule, PolicyYear, Question

    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    policy_year = PolicyYear.objects.get()
    assert policy_year.benefit_rules.count() == 7
    assert policy_year.questions.filter(question__contains="220 元").exists()
    BenefitRule.objects.filter(visit_kind="campus_clinic").update(fund_share_percent=85)
    Question.objects.filter(question__startswith="急诊").update(answer="已改")
    call_command("seed_demo", stdout=StringIO())
    assert BenefitRule.objects.get(visit_kind="campus_clinic").fund_share_percent == 85
    assert Question.objects.get(question__startswith="急诊").answer == "已改"
    assert Question.objects.count() == policy_year.questions.count()


def test_seed_demo_shows_a_waiting_period_student_with_the_seeds_dates(
    settings, tmp_path, client, sign_in_student
):
    import datetime as dt
    import re

    from django.urls import reverse

    from confirmations.models import Application

    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    waiting = Application.objects.get(state=Application.State.WAITING)
    year = waiting.policy_year.enrollment_year
    # Seed 03: confirmed (on behalf) on 10 September, one year without coverage: 3 months.
    assert waiting.confirmed_on == dt.date(year, 9, 10)
    assert (waiting.waiting_until, waiting.account_on, waiting.benefit_start) == (
        dt.date(year, 12, 9),
        dt.date(year, 12, 10),
        dt.date(year, 12, 11),
    )
    line = re.search(rf"^\s+(\S+)\s+({waiting.id_number})\s+→ (.+)$", out.getvalue(), re.M)
    assert f"待遇等待期至 {year}-12-09" in line.group(3)
    sign_in_student(client, waiting.name, waiting.id_number)
    html = client.get(reverse("student:start"), follow=True).content.decode()
    assert "待遇等待期" in html and f"{year}-12-10" in html and "建账成功" not in html


def test_seed_demo_shows_a_failed_student_the_right_result_page(
    settings, tmp_path, client, sign_in_student
):
    from django.urls import reverse

    from confirmations.models import Application

    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    failed = Application.objects.get(state=Application.State.FAILED)
    assert failed.failure_kind == Application.FailureKind.TECHNICAL
    sign_in_student(client, failed.name, failed.id_number)
    response = client.get(reverse("student:start"), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].endswith(f"/{failed.approval_number}/")
    assert "区医保中心会为您重新提交" in html and "重新申请</a>" not in html


def test_seed_demo_prints_a_student_on_two_rosters_who_chooses_the_school(
    settings, tmp_path, client, sign_in_student
):
    import re

    from django.urls import reverse

    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())  # idempotent: still one record at 1014
    line = re.search(r"^\s+(\S+)\s+(\d{17}[\dX])\s+→ (在 1012 和 1014 .+)$", out.getvalue(), re.M)
    name, id_number = line.group(1), line.group(2)
    assert StudentRecord.objects.filter(id_number=id_number).count() == 2
    sign_in_student(client, name, id_number)
    assert client.get(reverse("student:start")).url == reverse("student:school")


# --- a roster longer than an upload may be (issue 14: the operator's --max-rows) ---------------


def test_max_rows_lets_the_command_import_a_roster_longer_than_the_upload_limit(
    roster_file, rows_1012, city_admin, monkeypatch
):
    from enrollment import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 5)  # the header and 7 rows pass it
    path = roster_file(rows_1012(7))
    with pytest.raises(CommandError, match="超过 5 行的上限"):
        call_command("import_roster", path, "--school", "1012", "--commit", stdout=StringIO())
    result = import_json(path, "--school", "1012", "--commit", "--max-rows", "8")
    assert (result["inserted"], result["committed"]) == (7, True)
    assert StudentRecord.objects.count() == 7


def test_max_rows_past_the_ceiling_is_refused_in_chinese_before_reading(
    roster_file, rows_1012, city_admin, monkeypatch
):
    from pathlib import Path

    from enrollment import spreadsheets

    path = roster_file(rows_1012(1))

    def never(self):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", never)
    too_many = str(spreadsheets.OPERATOR_MAX_ROWS + 1)
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_roster", path, "--school", "1012", "--max-rows", too_many, stdout=StringIO()
        )
    assert "--max-rows 必须在 1 到 250,000 之间" in str(refused.value)
    assert StudentRecord.objects.count() == 0


def test_max_rows_of_zero_is_refused(roster_file, rows_1012, city_admin):
    with pytest.raises(CommandError, match="必须在 1 到"):
        call_command(
            "import_roster",
            roster_file(rows_1012(1)),
            "--school",
            "1012",
            "--max-rows",
            "0",
            stdout=StringIO(),
        )


def test_max_rows_raises_the_file_size_limit_in_proportion(tmp_path, city_admin, monkeypatch):
    """A file just past an upload's 30 MB is refused by size alone without --max-rows, and is
    read (then refused as not a workbook) with --max-rows 200000 (a 60 MB limit)."""
    from enrollment import spreadsheets

    path = tmp_path / "long.xlsx"
    with path.open("wb") as sparse:
        sparse.truncate(spreadsheets.MAX_FILE_BYTES + 1)
    with pytest.raises(CommandError) as refused:
        call_command("import_roster", str(path), "--school", "1012", stdout=StringIO())
    assert str(refused.value) == spreadsheets.file_too_large_message()
    with pytest.raises(CommandError, match=r"不是 Excel \.xlsx"):
        call_command(
            "import_roster",
            str(path),
            "--school",
            "1012",
            "--max-rows",
            "200000",
            stdout=StringIO(),
        )
