"""The admin's CSV/TSV import is bounded like the xlsx one: size, rows, columns and line length
are checked while the file is parsed, line by line, and a file past a limit is refused with a
message on the import form (review M1)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from enrollment import rules, spreadsheets
from enrollment.admin_formats import SAFE_FORMATS, InertCSV, InertTSV
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db

HEADER = ",".join(rules.HEADERS)


def test_csv_with_more_columns_than_the_limit_is_refused():
    content = (HEADER + "\n" + "," * 200 + "\n").encode()
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        InertCSV(encoding="utf-8").create_dataset(content)
    assert "64 列" in refused.value.message


def test_csv_with_an_overlong_line_is_refused():
    content = (HEADER + "\n" + "张" * 70_000 + "\n").encode()
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        InertCSV(encoding="utf-8").create_dataset(content)
    assert "65,536 个字符" in refused.value.message


def test_csv_that_is_one_long_line_is_refused_before_it_is_split():
    content = ("x" * 5_000_000).encode()
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        InertCSV(encoding="utf-8").create_dataset(content)
    assert "个字符" in refused.value.message


def test_csv_with_more_rows_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 3)
    content = (HEADER + "\n" + "a\r\n" * 4).encode()
    with pytest.raises(spreadsheets.SpreadsheetRefused) as refused:
        InertCSV(encoding="utf-8").create_dataset(content)
    assert "3 行" in refused.value.message


def test_tsv_cells_keep_their_tabs_apart_and_quoted_newlines():
    dataset = InertTSV(encoding="utf-8").create_dataset('姓名\t备注\n张三\t"一\n二"\n'.encode())
    assert dataset.dict == [{"姓名": "张三", "备注": "一\n二"}]


def test_admin_import_form_shows_the_column_refusal(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    response = client.post(
        reverse("admin:enrollment_studentrecord_import"),
        {
            "resource": 0,
            "format": SAFE_FORMATS.index(InertCSV),
            "import_file": SimpleUploadedFile("r.csv", (HEADER + "\n" + "," * 200).encode()),
        },
    )
    assert response.status_code == 200
    assert "64 列" in response.content.decode()
    assert not StudentRecord.objects.exists()


# --- the preview's diff under the Content-Security-Policy (review 9) ---------------------------


def test_import_preview_diff_has_no_inline_style_and_links_its_colours(
    client, city_admin, rows_1012, workbook
):
    from enrollment.admin_formats import SafeXLSX

    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    response = client.post(
        reverse("admin:enrollment_studentrecord_import"),
        {
            "resource": 0,
            "format": SAFE_FORMATS.index(SafeXLSX),
            "import_file": SimpleUploadedFile("r.xlsx", workbook(rows_1012(2))),
        },
    )
    page = response.content.decode()
    assert "<ins>" in page  # the new rows' values, marked as inserted
    assert 'style="background' not in page
    assert "css/admin_import.css" in page


# --- the file between preview and confirmation (review 10) ---------------------------------


@pytest.fixture
def admin_client(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    return client


def preview(admin_client, content: bytes):
    from enrollment.admin_formats import SafeXLSX

    return admin_client.post(
        reverse("admin:enrollment_studentrecord_import"),
        {
            "resource": 0,
            "format": SAFE_FORMATS.index(SafeXLSX),
            "import_file": SimpleUploadedFile("r.xlsx", content),
        },
    )


def confirm(admin_client, response):
    return admin_client.post(
        reverse("admin:enrollment_studentrecord_process_import"),
        response.context["confirm_form"].initial,
    )


def test_previewed_file_waits_in_the_database_and_goes_once_confirmed(
    admin_client, rows_1012, workbook
):
    from enrollment.models import ImportDraft

    response = preview(admin_client, workbook(rows_1012(2)))
    assert ImportDraft.objects.count() == 1
    confirm(admin_client, response)
    assert StudentRecord.objects.count() == 2
    assert not ImportDraft.objects.exists()


def test_unconfirmed_draft_is_removed_by_the_retention_purge(
    admin_client, rows_1012, workbook, settings
):
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    from enrollment.models import ImportDraft

    preview(admin_client, workbook(rows_1012(2)))
    preview(admin_client, workbook(rows_1012(1)))
    old = timezone.now() - dt.timedelta(hours=settings.IMPORT_DRAFT_HOURS + 1)
    ImportDraft.objects.filter(pk=ImportDraft.objects.order_by("pk").first().pk).update(
        created_at=old
    )
    call_command("purge_upload_files", stdout=__import__("io").StringIO())
    assert ImportDraft.objects.count() == 1


def test_confirming_an_expired_draft_asks_for_the_file_again(
    admin_client, rows_1012, workbook, settings
):
    import datetime as dt

    from django.utils import timezone

    from enrollment.models import ImportDraft

    response = preview(admin_client, workbook(rows_1012(2)))
    ImportDraft.objects.update(
        created_at=timezone.now() - dt.timedelta(hours=settings.IMPORT_DRAFT_HOURS + 1)
    )
    confirmed = confirm(admin_client, response)
    assert confirmed.status_code == 302 and confirmed.url.endswith("/import/")
    assert not StudentRecord.objects.exists()
