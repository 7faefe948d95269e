"""The freshman's journey on a phone: identify, check, sign, follow the application to its result."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from confirmations.gateway import NAME_MISMATCH
from confirmations.models import Application, CoverageRecord
from enrollment.importer import roster_import

pytestmark = pytest.mark.django_db


def sign_in(client, row, outbox):
    response = client.post(
        reverse("student:identify"), {"name": row["姓名"], "id_number": row["证件号码"]}
    )
    assert response.url == reverse("student:verify")
    code = re.search(r"\d{6}", outbox[-1][1]).group()
    return client.post(reverse("student:verify"), {"code": code})


def confirm(client, signature_data_url, capture):
    with capture(execute=True):
        return client.post(
            reverse("student:pledge"), {"agree": "on", "signature": signature_data_url}
        )


@pytest.fixture
def student(stored_1012, policy_year):
    return stored_1012[0]


def test_home_explains_and_offers_to_start(client, policy_year):
    html = client.get(reverse("student:home")).content.decode()
    assert "立即办理" in html and "办理须知" in html and 'name="viewport"' in html


def test_pages_need_identification(client, policy_year):
    response = client.get(reverse("student:start"))
    assert response.status_code == 302 and response.url.startswith(reverse("student:identify"))


def test_demo_student_goes_from_identification_to_account_created(
    client, student, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    response = sign_in(client, student, _sms_outbox)
    assert response.url == reverse("student:start")
    response = client.get(response.url)
    assert response.url == reverse("student:record")
    html = client.get(response.url).content.decode()
    assert f"<dd>*{student['姓名'][-1]}</dd>" in html  # masked as in the seeds: *姨
    assert student["证件号码"][:3] + "*****" + student["证件号码"][-2:] in html
    assert student["证件号码"] not in html and student["学号"] in html

    pledge_page = client.get(reverse("student:pledge")).content.decode()
    assert "自愿参保承诺书" in pledge_page and "signature-pad" in pledge_page

    response = confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    assert response.url == reverse("student:submitted", args=[application.approval_number])
    assert "预计等待 30 分钟" in client.get(response.url).content.decode()

    result = client.get(
        reverse("student:result", args=[application.approval_number])
    ).content.decode()
    assert "建账成功" in result
    assert f"{application.benefit_start:%Y-%m-%d}</span> 至 " in result
    assert f"{application.benefit_end:%Y-%m-%d}</span>" in result
    assert "后可申领" in result


def test_name_mismatch_shows_failure_with_reason(
    client, student, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(
        id_number=student["证件号码"], name="张冠李", kind="city_resident"
    )
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    result = client.get(
        reverse("student:result", args=[application.approval_number])
    ).content.decode()
    assert "建账失败" in result and NAME_MISMATCH in result
    # 立即办理 again leads to the result page, not a new application
    again = client.get(reverse("student:start"))
    assert again.url == reverse("student:result", args=[application.approval_number])


def test_pending_student_sees_the_approval_number_and_cannot_apply_again(
    client,
    student,
    _sms_outbox,
    signature_data_url,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    html = client.get(reverse("student:start")).content.decode()
    assert "不可重复提交" in html and application.approval_number in html
    html = client.get(reverse("student:applications")).content.decode()
    assert "已申请待审核" in html and 'http-equiv="refresh"' in html
    # A second signed pledge posted directly is refused too
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    assert Application.objects.count() == 1


def test_student_on_two_rosters_chooses_the_school(
    client,
    student,
    registry,
    filer_1014,
    year,
    workbook,
    _sms_outbox,
    signature_data_url,
    django_capture_on_commit_callbacks,
):
    roster_import(
        content=workbook([dict(student, 总分校编码="101400")]),
        school=registry["schools"]["1014"],
        year=year,
        user=filer_1014,
        commit=True,
    )
    sign_in(client, student, _sms_outbox)
    assert client.get(reverse("student:start")).url == reverse("student:school")
    page = client.get(reverse("student:school"))
    assert [r.school.code for r in page.context["records"]] == ["1012", "1014"]
    chosen = page.context["records"][1]
    client.post(reverse("student:school"), {"record": chosen.pk})
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    assert Application.objects.get().record.school.code == "1014"


def test_empty_signature_is_refused_on_the_page(client, student, _sms_outbox):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    response = client.post(reverse("student:pledge"), {"agree": "on", "signature": ""})
    assert response.status_code == 200 and "签名" in response.content.decode()
    assert not Application.objects.exists()


def test_unchecked_agreement_is_refused(client, student, _sms_outbox, signature_data_url):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    response = client.post(reverse("student:pledge"), {"signature": signature_data_url})
    assert "请先阅读承诺书并勾选同意" in response.content.decode()


def test_wrong_name_reaches_the_same_code_page_and_never_signs_in(client, student, _sms_outbox):
    response = client.post(
        reverse("student:identify"), {"name": "不是本人", "id_number": student["证件号码"]}
    )
    assert response.url == reverse("student:verify")
    response = client.post(reverse("student:verify"), {"code": "123456"}, follow=True)
    assert "验证码错误" in response.content.decode()
    assert client.get(reverse("student:start")).status_code == 302


def test_closed_channel_explains_itself(client, student, _sms_outbox, policy_year):
    from django.utils import timezone

    policy_year.closing_date = timezone.localdate() - dt.timedelta(days=1)
    policy_year.save()
    sign_in(client, student, _sms_outbox)
    html = client.get(reverse("student:start")).content.decode()
    assert "参保确认已结束" in html and "集中申报工作截止日" in html


def test_signed_pledge_can_be_viewed_and_printed(
    client,
    student,
    _sms_outbox,
    signature_data_url,
    signature_png,
    django_capture_on_commit_callbacks,
):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    html = client.get(
        reverse("student:signed_pledge", args=[application.approval_number])
    ).content.decode()
    assert application.pledge.content_hash in html
    assert "data-print" in html and "js/print.js" in html  # no inline handler (CSP)
    image = client.get(reverse("student:signature", args=[application.approval_number]))
    assert image["Content-Type"] == "image/png" and image.content == signature_png


def test_another_students_application_is_not_found(
    client,
    stored_1012,
    policy_year,
    _sms_outbox,
    signature_data_url,
    django_capture_on_commit_callbacks,
):
    sign_in(client, stored_1012[0], _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    theirs = Application.objects.get().approval_number
    client.post(reverse("student:sign_out"))
    sign_in(client, stored_1012[1], _sms_outbox)
    assert client.get(reverse("student:result", args=[theirs])).status_code == 404
    assert client.get(reverse("student:signature", args=[theirs])).status_code == 404


def test_student_cannot_bypass_the_reapply_rule_by_posting_the_pledge(
    client, student, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(
        id_number=student["证件号码"], name="张冠李", kind="city_resident"
    )
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    record_pk = Application.objects.get().record_id
    client.post(reverse("student:school"), {"record": record_pk})
    response = confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    assert "更正" in response.content.decode()
    assert Application.objects.count() == 1


def test_student_with_employee_insurance_may_apply_again_after_stopping_it(
    client, student, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(
        id_number=student["证件号码"], name=student["姓名"], kind="employee"
    )
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    CoverageRecord.objects.all().delete()  # employee insurance stopped
    failed = Application.objects.get()
    assert client.get(reverse("student:start")).url == reverse(
        "student:result", args=[failed.approval_number]
    )
    page = client.get(reverse("student:result", args=[failed.approval_number])).content.decode()
    assert "停止职工医保待遇" in page and "?again=1" in page
    assert client.get(reverse("student:start") + "?again=1").url == reverse("student:record")
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    assert Application.objects.filter(state="created").count() == 1


def test_without_a_policy_year_the_flow_says_it_is_not_open(client, stored_1012, _sms_outbox):
    sign_in(client, stored_1012[0], _sms_outbox)
    response = client.get(reverse("student:start"))
    assert response.status_code == 200 and "尚未开放" in response.content.decode()


@pytest.fixture
def on_two_rosters(client, student, registry, filer_1014, year, workbook, _sms_outbox):
    """The student is also on 1014's roster, signed in: the flow asks which school."""
    roster_import(
        content=workbook([dict(student, 总分校编码="101400")]),
        school=registry["schools"]["1014"],
        year=year,
        user=filer_1014,
        commit=True,
    )
    sign_in(client, student, _sms_outbox)
    return student


def test_school_choice_preselects_no_school(client, on_two_rosters):
    html = client.get(reverse("student:school")).content.decode()
    assert html.count('type="radio"') == 2 and "checked" not in html


def test_school_choice_without_a_choice_is_a_form_error(client, on_two_rosters):
    response = client.post(reverse("student:school"), {})
    assert response.status_code == 200
    assert 'role="alert">请选择您实际就读的院校</div>' in response.content.decode()
    assert "student_record" not in client.session


def test_refusal_for_the_missing_tick_keeps_the_signature(
    client, student, _sms_outbox, signature_data_url
):
    """Defect 6: forgetting 同意 must not wipe the drawing; the page puts it back."""
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    response = client.post(reverse("student:pledge"), {"signature": signature_data_url})
    html = response.content.decode()
    assert "请先阅读承诺书并勾选同意" in html
    assert f'name="signature" id="id_signature" value="{signature_data_url}"' in html


def test_refusal_does_not_send_back_what_is_not_a_png_signature(client, student, _sms_outbox):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    posted = 'data:image/png;base64,PHNjcmlwdD4="><script>alert(1)</script>'
    html = client.post(reverse("student:pledge"), {"signature": posted}).content.decode()
    assert 'name="signature" id="id_signature" value=""' in html and "<script>alert" not in html


def test_signature_script_checks_the_tick_before_sending(client):
    """The browser asks for 同意 before the form goes (the journey taps it for real)."""
    from pathlib import Path

    from django.contrib.staticfiles import finders

    script = Path(finders.find("js/signature.js")).read_text(encoding="utf-8")
    assert "agree.checked" in script and "restore(kept)" in script


def test_hotline_is_a_tap_to_call_link_written_as_the_city_writes_it(client, policy_year):
    html = client.get(reverse("student:home")).content.decode()
    hotline = policy_year.city.hotline
    dial = re.sub(r"[^\d+]", "", hotline)
    assert f'<a class="tel" href="tel:{dial}">{hotline}</a>' in html


def test_flow_pages_show_the_steps_and_a_way_back(client, student, _sms_outbox):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    record = client.get(reverse("student:record")).content.decode()
    pledge = client.get(reverse("student:pledge")).content.decode()
    assert 'aria-current="step">核对信息' in record and ">上一步<" in record
    assert 'aria-current="step">承诺签名' in pledge
    assert f'href="{reverse("student:record")}">上一步<' in pledge


def test_signed_pledge_says_it_is_the_students_copy_and_masks_the_id(
    client, student, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    sign_in(client, student, _sms_outbox)
    client.get(reverse("student:start"))
    confirm(client, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    html = client.get(
        reverse("student:signed_pledge", args=[application.approval_number])
    ).content.decode()
    assert "学生留存副本" in html
    assert student["证件号码"][:3] + "*****" + student["证件号码"][-2:] in html
    assert student["证件号码"] not in html
