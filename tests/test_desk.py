"""Issue 5: batch confirmation on students' behalf, the activation list and its export, the
district handler's desk, retries, reminders, reconciliation and the query page."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from confirmations import services
from confirmations.models import Application, BatchConfirmation, CoverageRecord, Reminder
from desk import exports
from desk.models import IdListUpload
from enrollment.importer import roster_import
from enrollment.masking import mask_id_number
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


def batch_confirm(client, capture, data, query=""):
    with capture(execute=True):
        return client.post(reverse("desk:batch_confirm") + query, data)


def remind(client, school, capture, **kwargs):
    """Send a reminder as the desk does: the preview page first, then confirm its number."""
    preview = client.get(reverse("desk:remind_preview"), {"school": school.pk})
    expected = preview.context["plan"].recipients
    with capture(execute=True):
        return client.post(
            reverse("desk:remind"), {"school": school.pk, "expected": expected}, **kwargs
        )


def activation_page(client, **params):
    return client.get(reverse("desk:activation"), params).context["page"]


def test_filer_batch_confirms_selected_students_on_their_behalf(
    filer, filer_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    ids = list(StudentRecord.objects.order_by("pk").values_list("pk", flat=True)[:3])
    response = batch_confirm(
        filer,
        django_capture_on_commit_callbacks,
        {"ids": ids, "attested": "on", "scope": "selected"},
    )
    batch = BatchConfirmation.objects.get()
    assert response.url == reverse("desk:batch_detail", args=[batch.pk])
    applications = Application.objects.order_by("record_id")
    assert [a.record_id for a in applications] == ids
    for application in applications:
        assert application.channel == Application.Channel.ON_BEHALF
        assert application.confirmed_by == filer_1012 and application.paper_pledge_attested
        assert application.batch == batch
        assert application.state == Application.State.CREATED  # the same worker created it
    batch.refresh_from_db()
    assert (batch.state, batch.results["confirmed"]) == ("done", 3)


def test_batch_confirmation_requires_the_paper_pledge_attestation(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:2])
    response = batch_confirm(
        filer, django_capture_on_commit_callbacks, {"ids": ids, "scope": "selected"}
    )
    assert response.url.startswith(reverse("desk:activation"))
    assert not Application.objects.exists() and not BatchConfirmation.objects.exists()


def test_students_already_pending_or_created_are_reported_not_resubmitted(
    filer, stored_1012, policy_year, signature_png, django_capture_on_commit_callbacks, monkeypatch
):
    first, second, third = StudentRecord.objects.order_by("pk")[:3]
    with django_capture_on_commit_callbacks(execute=True):
        services.application_submit(
            record=first,
            policy_year=policy_year,
            signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent=""),
        )
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    with django_capture_on_commit_callbacks(execute=True):
        services.application_submit(
            record=second,
            policy_year=policy_year,
            signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent=""),
        )
    monkeypatch.undo()
    batch_confirm(
        filer,
        django_capture_on_commit_callbacks,
        {"ids": [first.pk, second.pk, third.pk], "attested": "on"},
    )
    results = BatchConfirmation.objects.get().results
    assert results["confirmed"] == 1
    assert [item["name"] for item in results["already_created"]] == [first.name]
    assert [item["name"] for item in results["already_pending"]] == [second.name]
    assert Application.objects.count() == 3
    assert Application.objects.get(record=first).channel == Application.Channel.SELF


def test_batch_of_500_demo_students_shows_activated_and_exports_the_same_rows(
    client,
    filer,
    handler_pudong,
    school_1012,
    filer_1012,
    year,
    rows_1012,
    workbook,
    policy_year,
    django_capture_on_commit_callbacks,
):
    roster_import(
        content=workbook(rows_1012(500)),
        school=school_1012,
        year=year,
        user=filer_1012,
        commit=True,
    )
    batch_confirm(
        filer,
        django_capture_on_commit_callbacks,
        {"attested": "on", "scope": "all_matching"},
        "?status=unconfirmed",
    )
    assert Application.objects.filter(state="created", channel="on_behalf").count() == 500
    page = activation_page(filer, status="activated")
    assert page.paginator.count == 500
    assert "院校代确认" in filer.get(reverse("desk:activation")).content.decode()

    exported = filer.get(reverse("desk:activation_export"), {"status": "activated"})
    sheet = load_workbook(io.BytesIO(exported.getvalue())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 501
    page_rows = filer.get(reverse("desk:activation"), {"status": "activated"}).context["rows"]
    as_text = [[value or "" for value in row] for row in rows[1:51]]  # empty cells load as None
    id_column = exports.ACTIVATION_HEADERS.index("证件号码")
    for (_, cells), exported_row in zip(page_rows, as_text, strict=True):
        # The page masks the ID number; the export carries it in full (the school's own data).
        assert cells[id_column] == mask_id_number(exported_row[id_column])
        cells[id_column] = exported_row[id_column]
        assert cells == exported_row
    header = list(rows[0])
    activated, channel = header.index("是否激活"), header.index("确认渠道")
    assert {row[activated] for row in rows[1:]} == {"是"}
    assert {row[channel] for row in rows[1:]} == {"院校代确认"}

    client.force_login(handler_pudong)
    assert activation_page(client).paginator.count == 0
    other = client.get(reverse("desk:activation_export"))
    assert len(list(load_workbook(io.BytesIO(other.getvalue())).active.iter_rows())) == 1


def test_handler_of_another_district_cannot_confirm_1012_students(
    client, handler_pudong, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    client.force_login(handler_pudong)
    ids = list(StudentRecord.objects.values_list("pk", flat=True))
    batch_confirm(client, django_capture_on_commit_callbacks, {"ids": ids, "attested": "on"})
    assert not Application.objects.exists()


def test_branch_handler_confirms_only_the_branch(
    client, handler_xuhui, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    client.force_login(handler_xuhui)
    ids = list(StudentRecord.objects.values_list("pk", flat=True))
    batch_confirm(client, django_capture_on_commit_callbacks, {"ids": ids, "attested": "on"})
    assert set(Application.objects.values_list("record__campus_code", flat=True)) == {"101201"}


def test_activation_list_filters_and_keeps_filters_across_pages(
    filer, school_1012, filer_1012, year, rows_1012, workbook, policy_year
):
    roster_import(
        content=workbook(rows_1012(120)),
        school=school_1012,
        year=year,
        user=filer_1012,
        commit=True,
    )
    page = activation_page(filer, status="unconfirmed")
    assert page.paginator.count == 120 and page.paginator.num_pages == 3
    html = filer.get(reverse("desk:activation"), {"status": "unconfirmed"}).content.decode()
    assert "status=unconfirmed&amp;page=2" in html
    assert activation_page(filer, status="activated").paginator.count == 0


def test_activation_list_masks_id_numbers(filer, stored_1012, policy_year):
    html = filer.get(reverse("desk:activation")).content.decode()
    assert stored_1012[0]["证件号码"] not in html
    assert stored_1012[0]["证件号码"][:3] + "*****" + stored_1012[0]["证件号码"][-2:] in html


def test_exported_cells_never_run_as_formulas(filer, stored_1012, policy_year):
    StudentRecord.objects.filter(id_number=stored_1012[0]["证件号码"]).update(
        name='=HYPERLINK("x")', origin="+1+1"
    )
    exported = filer.get(reverse("desk:activation_export"))
    sheet = load_workbook(io.BytesIO(exported.getvalue())).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert '=HYPERLINK("x")' in [cell.value for cell in cells]


def test_batch_from_uploaded_id_list(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    book = Workbook()
    book.active.append(["证件号码", "姓名"])
    book.active.append([stored_1012[0]["证件号码"].lower(), stored_1012[0]["姓名"]])
    book.active.append([stored_1012[1]["证件号码"], stored_1012[1]["姓名"]])
    book.active.append(["310104200001011234", "不在名单"])
    buffer = io.BytesIO()
    book.save(buffer)
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = filer.post(
            reverse("desk:batch_upload"),
            {
                "school": school_1012.pk,
                "attested": "on",
                "file": SimpleUploadedFile("list.xlsx", buffer.getvalue()),
            },
        )
    upload = IdListUpload.objects.get()
    batch = BatchConfirmation.objects.get()
    assert (upload.state, upload.batch) == (IdListUpload.State.DONE, batch)
    assert bytes(upload.content) == b""  # not kept once read
    assert response.url == reverse("desk:id_list_detail", args=[upload.pk])
    assert filer.get(response.url).url == reverse("desk:batch_detail", args=[batch.pk])
    assert batch.results["confirmed"] == 2
    assert [(item["row"], item["kind"], item["id"]) for item in batch.results["skipped"]] == [
        (4, "not_found", "310*****34")
    ]
    html = filer.get(reverse("desk:batch_detail", args=[batch.pk])).content.decode()
    assert "310*****34" in html and "310104200001011234" not in html


def test_id_list_with_numeric_ids_is_refused(
    filer, school_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    book = Workbook()
    book.active.append(["证件号码"])
    book.active.append([310104200904020013])
    buffer = io.BytesIO()
    book.save(buffer)
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = filer.post(
            reverse("desk:batch_upload"),
            {
                "school": school_1012.pk,
                "attested": "on",
                "file": SimpleUploadedFile("list.xlsx", buffer.getvalue()),
            },
        )
    assert IdListUpload.objects.get().state == IdListUpload.State.REFUSED
    assert "文本格式" in filer.get(response.url).content.decode()
    assert not BatchConfirmation.objects.exists()


def test_batch_channel_closes_with_the_policy_year(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    policy_year.closing_date = timezone.localdate() - dt.timedelta(days=1)
    policy_year.save()
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:2])
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": ids, "attested": "on"})
    assert not Application.objects.exists()


def test_desk_shows_progress_per_campus(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks, signature_png
):
    records = list(StudentRecord.objects.order_by("pk"))
    CoverageRecord.objects.create(
        id_number=records[1].id_number, name="张冠李", kind="city_resident"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.application_submit(
            record=records[0],
            policy_year=policy_year,
            signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent=""),
        )
    batch_confirm(
        filer,
        django_capture_on_commit_callbacks,
        {"ids": [records[1].pk, records[2].pk], "attested": "on"},
    )
    progress = {
        row["campus__code"]: row for row in filer.get(reverse("desk:desk")).context["progress"]
    }
    main = progress["101200"]  # records alternate campuses: 0 and 2 on 101200, 1 on 101201
    assert (
        main["uploaded"],
        main["confirmed_self"],
        main["confirmed_on_behalf"],
        main["created"],
    ) == (5, 1, 1, 2)
    branch = progress["101201"]
    assert (branch["failed"], branch["unconfirmed"]) == (1, 4)


def test_desk_lists_failures_with_reasons(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    CoverageRecord.objects.create(id_number=record.id_number, name="张冠李", kind="city_resident")
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    html = filer.get(reverse("desk:desk")).content.decode()
    assert "相同证件号存在其他医保账户但姓名不同" in html and "更正信息" in html


def test_desk_lists_applications_pending_past_the_promise(
    filer, stored_1012, policy_year, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    record = StudentRecord.objects.order_by("pk").first()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    assert list(filer.get(reverse("desk:desk")).context["late"]) == []
    queued = timezone.now() - dt.timedelta(minutes=policy_year.promised_minutes + 1)
    Application.objects.update(submitted_at=queued, last_queued_at=queued)
    late = list(filer.get(reverse("desk:desk")).context["late"])
    assert [a.record_id for a in late] == [record.pk]


def test_a_retried_application_is_not_late_for_its_first_submission(
    filer, stored_1012, policy_year, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    record = StudentRecord.objects.order_by("pk").first()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    Application.objects.update(submitted_at=timezone.now() - dt.timedelta(hours=3))  # retried now
    assert list(filer.get(reverse("desk:desk")).context["late"]) == []


def test_technical_failure_is_retried_with_one_click(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    record = StudentRecord.objects.order_by("pk").first()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    application = Application.objects.get()
    services.account_fail_technically(application_id=application.pk)
    monkeypatch.undo()
    assert "重试" in filer.get(reverse("desk:desk")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        filer.post(reverse("desk:retry", args=[application.pk]))
    application.refresh_from_db()
    assert application.state == Application.State.CREATED


def test_business_failure_cannot_be_retried(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    CoverageRecord.objects.create(id_number=record.id_number, name="张冠李", kind="city_resident")
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    application = Application.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        filer.post(reverse("desk:retry", args=[application.pk]))
    application.refresh_from_db()
    assert application.state == Application.State.FAILED


def test_reminders_go_to_unconfirmed_students_in_scope_once_a_day(
    filer, school_1012, stored_1012, policy_year, _sms_outbox, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    response = remind(filer, school_1012, django_capture_on_commit_callbacks, follow=True)
    assert "9 名未确认的学生" in response.content.decode()
    assert len(_sms_outbox) == 9 and record.phone not in [phone for phone, _ in _sms_outbox]
    assert Reminder.objects.get().recipients == 9
    response = remind(filer, school_1012, django_capture_on_commit_callbacks, follow=True)
    assert "24 小时内已经提醒过" in response.content.decode()
    assert len(_sms_outbox) == 9


def test_handler_reminds_only_students_in_their_scope(
    client,
    handler_xuhui,
    school_1012,
    stored_1012,
    policy_year,
    _sms_outbox,
    django_capture_on_commit_callbacks,
):
    client.force_login(handler_xuhui)
    remind(client, school_1012, django_capture_on_commit_callbacks)
    branch_phones = set(
        StudentRecord.objects.filter(campus_code="101201").values_list("phone", flat=True)
    )
    assert {phone for phone, _ in _sms_outbox} == branch_phones


def test_reconciliation_export_refuses_a_school_code_that_is_not_one(filer):
    response = filer.get(reverse("desk:reconciliation"), {"school": "1012' OR 1=1"})
    assert response.status_code == 302 and response.url == reverse("desk:desk")


def test_reconciliation_export_per_campus(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    CoverageRecord.objects.create(id_number=record.id_number, name="张冠李", kind="city_resident")
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    response = filer.get(reverse("desk:reconciliation"), {"school": "1012"})
    book = load_workbook(io.BytesIO(response.content))
    summary = list(book["对账汇总"].iter_rows(values_only=True))
    assert summary[0][:6] == ("院校编码", "院校名称", "总分校编码", "校区", "所在区", "名单人数")
    by_campus = {row[2]: row for row in summary[1:]}
    # 名单人数, 本人确认, 院校代确认, 建账成功, 待遇等待期, 建账中, 建账失败, 其他院校已办理, 未确认
    assert by_campus["101200"][5:] == (5, 0, 1, 0, 0, 0, 1, 0, 4)
    failures = [
        dict(zip(exports.FAILURE_HEADERS, row, strict=True))
        for row in book["建账失败明细"].iter_rows(min_row=2, values_only=True)
    ]
    assert failures[0]["姓名"] == record.name
    assert failures[0]["失败原因"] == "相同证件号存在其他医保账户但姓名不同"
    assert failures[0]["确认渠道"] == "院校代确认"


def test_query_page_shows_record_history_and_account(
    filer, filer_1012, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    html = filer.post(
        reverse("desk:query"), {"q": record.student_number}, follow=True
    ).content.decode()
    assert record.name in html and "院校代确认" in html and "已收纸质承诺书" in html
    assert "大学生" in html and "建账" in html


def test_query_page_finds_nothing_out_of_scope(client, handler_pudong, stored_1012, policy_year):
    client.force_login(handler_pudong)
    response = client.post(reverse("desk:query"), {"q": stored_1012[0]["学号"]}, follow=True)
    assert response.context["searched"] and response.context["results"] == []


def test_batch_detail_of_another_user_is_not_found(
    client, filer, handler_minhang, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:1])
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": ids, "attested": "on"})
    client.force_login(handler_minhang)
    assert (
        client.get(
            reverse("desk:batch_detail", args=[BatchConfirmation.objects.get().pk])
        ).status_code
        == 404
    )


def test_one_handlers_reminder_does_not_block_the_rest_of_the_school(
    filer,
    handler_xuhui,
    school_1012,
    stored_1012,
    policy_year,
    _sms_outbox,
    django_capture_on_commit_callbacks,
):
    from django.test import Client

    handler = Client()  # `filer` is the default client, logged in as the school's filer
    handler.force_login(handler_xuhui)
    remind(handler, school_1012, django_capture_on_commit_callbacks)
    assert len(_sms_outbox) == 5  # the branch's students
    remind(filer, school_1012, django_capture_on_commit_callbacks)
    assert len(_sms_outbox) == 10  # the main campus's five, nobody twice
    assert len({phone for phone, _ in _sms_outbox}) == 10


def test_retry_is_refused_once_the_channel_has_closed(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    record = StudentRecord.objects.order_by("pk").first()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    application = Application.objects.get()
    services.account_fail_technically(application_id=application.pk)
    policy_year.closing_date = timezone.localdate() - dt.timedelta(days=1)
    policy_year.save()
    filer.post(reverse("desk:retry", args=[application.pk]))
    application.refresh_from_db()
    assert application.state == Application.State.FAILED


def test_malformed_ids_do_not_break_the_batch_page(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    response = batch_confirm(
        filer, django_capture_on_commit_callbacks, {"ids": ["²", "1" * 40, "x"], "attested": "on"}
    )
    assert response.status_code == 302
    assert not Application.objects.exists()


def test_name_mismatch_is_not_confirmed_again_until_the_record_is_corrected(
    filer, stored_1012, policy_year, django_capture_on_commit_callbacks
):
    record = StudentRecord.objects.order_by("pk").first()
    CoverageRecord.objects.create(id_number=record.id_number, name="张冠李", kind="city_resident")
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    assert Application.objects.count() == 1
    assert (
        "更正"
        in BatchConfirmation.objects.order_by("created_at").last().results["refused"][0]["message"]
    )
    CoverageRecord.objects.all().delete()
    record.name = record.name  # the school corrects (saves) the record
    record.save()
    batch_confirm(filer, django_capture_on_commit_callbacks, {"ids": [record.pk], "attested": "on"})
    assert Application.objects.filter(state="created").count() == 1


def test_batch_whose_task_was_lost_is_queued_again(
    filer_1012, stored_1012, policy_year, monkeypatch
):
    from desk import services as staff

    monkeypatch.setattr("desk.services.enqueue_on_commit", lambda *a, **k: None)
    monkeypatch.setattr("desk.services.waiting_messages", lambda queue: 0)  # nothing waits
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:2])
    batch = staff.batch_confirmation_create(
        user=filer_1012, policy_year=policy_year, record_ids=ids, attested=True, source="test"
    )
    BatchConfirmation.objects.update(last_queued_at=timezone.now() - dt.timedelta(minutes=5))
    assert staff.batches_requeue_stale(older_than=dt.timedelta(minutes=3)) == 1
    batch.refresh_from_db()
    assert (batch.state, batch.results["confirmed"]) == ("done", 2)
