"""No full ID number or phone in any log line or exception report.

The walk-through runs the whole journey (upload, commit, edit, searches, student identify /
verify / sign, batch confirmation, export, query, a failed login) with every logger at DEBUG
and the masking filter taken off, so it checks what the code itself writes; the filter is
tested on its own as the defence in depth behind it.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse

from confirmations.models import Application
from enrollment import rules
from enrollment.models import RosterUpload, StudentRecord
from security.logmask import MaskingExceptionReporterFilter, MaskPersonalData, mask_personal

pytestmark = pytest.mark.django_db


# --- the mask ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("id 310104200904020013 here", "id 310*****13 here"),
        ("lower x 11010519491231002x.", "lower x 110*****2x."),
        ("15 digits 110105491231002", "15 digits 110*****02"),
        ("phone 13812345678", "phone 138****5678"),
        ("phone +86 138-1234-5678", "phone +86 138****5678"),
        ("q=310104200904020013&page=2", "q=310*****13&page=2"),
        ("approval 123456789012 stays", "approval 123456789012 stays"),
        (
            "uuid 3f1c2a9e-55b1-4c1e-9d0a-1a2b3c4d5e6f stays",
            "uuid 3f1c2a9e-55b1-4c1e-9d0a-1a2b3c4d5e6f stays",
        ),
    ],
)
def test_mask_personal(text, masked):
    assert mask_personal(text) == masked


def test_filter_masks_message_arguments_and_traceback():
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "saved %s for %s",
        ("310104200904020013", "13812345678"),
        None,
    )
    try:
        raise ValueError("bad id 310104200904020013")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    MaskPersonalData().filter(record)
    text = logging.Formatter().format(record)
    assert "310104200904020013" not in text and "13812345678" not in text
    assert "310*****13" in text and "138****5678" in text


def test_every_configured_handler_masks():
    handlers = settings.LOGGING["handlers"]
    assert handlers and all("mask_personal_data" in h.get("filters", []) for h in handlers.values())
    root = logging.getLogger()
    assert any(isinstance(f, MaskPersonalData) for h in root.handlers for f in h.filters)


def test_sql_with_its_parameters_is_never_logged():
    assert settings.LOGGING["loggers"]["django.db.backends"]["level"] == "WARNING"


def test_exception_reports_mask_posted_and_meta_values():
    request = RequestFactory().post(
        "/desk/query/?s=x",
        {"q": "310104200904020013", "phone": "13812345678"},
        HTTP_X_NOTE="13812345678",
    )
    reporter = MaskingExceptionReporterFilter()
    posted = reporter.get_post_parameters(request)
    assert posted["q"] == "310*****13" and posted["phone"] == "138****5678"
    assert reporter.get_safe_request_meta(request)["HTTP_X_NOTE"] == "138****5678"
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER.endswith("MaskingExceptionReporterFilter")


# --- the walk-through ----------------------------------------------------------------------------


@pytest.fixture
def raw_logs(caplog, monkeypatch):
    """Every record at DEBUG, before any masking filter touches it."""
    from config.celery import app

    # Celery's Django fixup runs django.setup() (and so dictConfig, which replaces the root
    # handlers, caplog's among them) the first time task modules are imported: do it now.
    app.loader.import_default_modules()
    for handler in logging.getLogger().handlers:
        monkeypatch.setattr(
            handler, "filters", [f for f in handler.filters if not isinstance(f, MaskPersonalData)]
        )
    for name in (
        "",
        "django",
        "django.request",
        "django.server",
        "django.security",
        "celery",
        "axes",
        "confirmations",
        "enrollment",
        "desk",
        "audit",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_a_full_walk_through_logs_no_id_number_or_phone(
    raw_logs,
    filer_1012,
    school_1012,
    year,
    rows_1012,
    workbook,
    policy_year,
    _sms_outbox,
    signature_data_url,
    django_capture_on_commit_callbacks,
    settings,
):
    run = django_capture_on_commit_callbacks
    rows = rows_1012(6)
    rows[5]["性别"] = "3"  # an error row: its ID and phone are in the error workbook
    staff = Client()
    staff.force_login(filer_1012)

    with run(execute=True):  # upload, check, commit
        staff.post(
            reverse("enrollment:upload_new"),
            {
                "school": school_1012.pk,
                "year": year,
                "file": SimpleUploadedFile("名单.xlsx", workbook(rows)),
            },
        )
    upload = RosterUpload.objects.get()
    staff.get(reverse("enrollment:upload_detail", args=[upload.pk]))
    staff.get(reverse("enrollment:upload_errors", args=[upload.pk]))
    with run(execute=True):
        staff.post(reverse("enrollment:upload_commit", args=[upload.pk]))
    assert StudentRecord.objects.count() == 5

    record = StudentRecord.objects.order_by("pk").first()  # edit a phone
    values = record.template_values()
    data = {
        spec.attribute: values[spec.attribute].strftime("%Y%m%d")
        if spec.attribute in rules.DATE_ATTRIBUTES
        else values[spec.attribute]
        for spec in rules.FIELDS
    }
    data["phone"] = "13700137000"
    assert staff.post(reverse("enrollment:record_edit", args=[record.pk]), data).status_code == 302

    target = rows[1]
    staff.post(reverse("enrollment:record_list"), {"q": target["证件号码"]}, follow=True)
    staff.get(reverse("enrollment:record_list"), {"q": target["证件号码"]})  # a hand-typed URL
    staff.post(reverse("desk:query"), {"q": target["证件号码"]}, follow=True)

    student = Client()  # the student's own journey
    student.post(
        reverse("student:identify"), {"name": target["姓名"], "id_number": target["证件号码"]}
    )
    code = re.search(r"\d{6}", _sms_outbox[-1][1]).group()
    student.post(reverse("student:verify"), {"code": code})
    student.get(reverse("student:start"))
    with run(execute=True):
        student.post(reverse("student:pledge"), {"agree": "on", "signature": signature_data_url})
    application = Application.objects.get()
    student.get(reverse("student:result", args=[application.approval_number]))
    student.get(reverse("student:signed_pledge", args=[application.approval_number]))
    student.get(reverse("student:result", args=["000000000000"]))  # a 404 is logged
    Client().post(reverse("student:identify"), {"name": "某人", "id_number": "31010420090402001"})

    searched = staff.post(reverse("desk:activation"), {"status": "unconfirmed", "q": ""})
    with run(execute=True):  # batch-confirm all matching, then export
        staff.post(
            reverse("desk:batch_confirm") + "?" + searched.url.split("?")[1],
            {"attested": "on", "scope": "all_matching"},
        )
    staff.get(reverse("desk:activation_export"))
    staff.get(reverse("desk:reconciliation"))

    Client().post(
        reverse("login"), {"username": target["证件号码"], "password": target["联系电话"]}
    )

    secrets_ = (
        {row["证件号码"] for row in rows} | {row["联系电话"] for row in rows} | {"13700137000"}
    )
    assert len(raw_logs.records) > 20  # the journey did log
    leaks = []
    for record in raw_logs.records:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        leaks += [f"{record.name}: {text[:200]}" for secret in secrets_ if secret in text]
    assert not leaks
