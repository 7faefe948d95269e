"""Calendar and city: the open policy year is the one whose window contains today; the premium
is labelled for its year; deregistered schools' students stay visible and confirmable; a city's
texts and rules are a row of data (a second city, Hangzhou from seed 05, changes behaviour
without code)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from confirmations import services
from confirmations.models import Application, PolicyYear
from enrollment.importer import roster_import
from enrollment.models import StudentRecord
from schools.models import City, School
from schools.scoping import campuses_fileable_by, campuses_visible_to

pytestmark = pytest.mark.django_db


def policy_year_of(year: int, closing: dt.date, **extra) -> PolicyYear:
    return PolicyYear.objects.create(
        enrollment_year=year, closing_date=closing, premium=Decimal("355"), **extra
    )


# --- calendar ------------------------------------------------------------------------------------


def test_open_policy_year_runs_into_january_when_its_window_does(db):
    policy_year_of(2026, dt.date(2027, 1, 15))
    current = PolicyYear.current(dt.date(2027, 1, 10))
    assert current.enrollment_year == 2026 and current.is_open(dt.date(2027, 1, 10))


def test_after_the_window_closes_the_year_is_still_current_and_says_it_is_closed(db):
    policy_year_of(2026, dt.date(2027, 1, 15))
    current = PolicyYear.current(dt.date(2027, 1, 20))
    assert current.enrollment_year == 2026 and not current.is_open(dt.date(2027, 1, 20))
    assert "集中申报工作截止日" in current.closed_message()


def test_next_years_window_takes_over_from_1_august(db):
    policy_year_of(2026, dt.date(2027, 1, 15))
    policy_year_of(2027, dt.date(2027, 12, 31))
    assert PolicyYear.current(dt.date(2027, 7, 31)).enrollment_year == 2026
    assert PolicyYear.current(dt.date(2027, 8, 1)).enrollment_year == 2027


def test_no_current_year_before_the_first_window_opens(db):
    policy_year_of(2027, dt.date(2027, 12, 31))
    assert PolicyYear.current(dt.date(2027, 6, 1)) is None


def test_filing_deadline_is_the_last_open_day_and_the_payment_period_the_first_closed_one(db):
    deadline = policy_year_of(2026, dt.date(2026, 12, 31))
    assert deadline.is_open(dt.date(2026, 12, 31)) and not deadline.is_open(dt.date(2027, 1, 1))
    deadline.closing_basis = PolicyYear.ClosingBasis.PAYMENT_PERIOD
    assert not deadline.is_open(dt.date(2026, 12, 31))
    assert "集中参保缴费期已于 2026-12-31 开始" in deadline.closed_message()


def test_desk_says_what_closes_the_channels_in_the_seeds_words(client, filer_1012, policy_year):
    client.force_login(filer_1012)
    html = client.get(reverse("desk:desk")).content.decode()
    assert f"{policy_year.next_year} 年度居民医保集中申报工作截止" in html


def test_premium_is_labelled_for_the_enrollment_year_not_the_next(client, policy_year):
    html = client.get(reverse("student:benefits")).content.decode()
    year, next_year = policy_year.enrollment_year, policy_year.next_year
    assert f"{year} 年度大学生个人缴费标准 355 元/年" in html
    assert f"缴纳 {next_year} 年度居民医保费" in html
    assert "并按规定缴纳 355" not in html


# --- deregistered or merged schools --------------------------------------------------------------


@pytest.fixture
def filed_at_1015(registry, handler_minhang, rows_1012, workbook, year, policy_year):
    """A student 1015 filed while active (its district's handler as filer, rule 5); then 1015
    was deregistered."""
    school = registry["schools"]["1015"]
    School.objects.filter(pk=school.pk).update(status=School.Status.ACTIVE)
    row = {**rows_1012(1, start=80)[0], "学号": "1015000001", "总分校编码": "101500"}
    roster_import(
        content=workbook([row]), school=school, year=year, user=handler_minhang, commit=True
    )
    School.objects.filter(pk=school.pk).update(status=School.Status.DEREGISTERED)
    return StudentRecord.objects.get(school=school)


def test_deregistered_school_takes_no_new_uploads(filed_at_1015, handler_minhang, city_admin):
    for user in (handler_minhang, city_admin):
        assert not campuses_fileable_by(user).filter(code="101500").exists()


def test_deregistered_schools_students_stay_visible_to_its_district_and_the_city(
    filed_at_1015, handler_minhang, handler_xuhui, city_admin
):
    assert campuses_visible_to(handler_minhang).filter(code="101500").exists()
    assert campuses_visible_to(city_admin).filter(code="101500").exists()
    assert not campuses_visible_to(handler_xuhui).filter(code="101500").exists()


def test_deregistered_schools_students_are_listed_queried_and_exported_for_its_district(
    client, filed_at_1015, handler_minhang
):
    client.force_login(handler_minhang)
    listed = client.get(reverse("desk:activation"), {"status": "unconfirmed"}).context["page"]
    assert filed_at_1015.pk in {record.pk for record in listed}
    response = client.post(reverse("desk:query"), {"q": filed_at_1015.student_number})
    assert filed_at_1015.name in client.get(response.url).content.decode()
    export = client.get(reverse("desk:activation_export")).getvalue()
    sheet = load_workbook(io.BytesIO(export)).active
    assert filed_at_1015.id_number in {row[3] for row in sheet.iter_rows(values_only=True)}


def test_deregistered_schools_students_can_still_be_confirmed_by_its_district(
    client, filed_at_1015, handler_minhang, django_capture_on_commit_callbacks
):
    client.force_login(handler_minhang)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("desk:batch_confirm"), {"ids": [filed_at_1015.pk], "attested": "on"})
    assert Application.objects.get().record == filed_at_1015


def test_deregistered_schools_upload_page_does_not_offer_it(client, filed_at_1015, handler_minhang):
    client.force_login(handler_minhang)
    schools = client.get(reverse("enrollment:upload_new")).context["form"].fields["school"]
    assert "1015" not in {school.code for school in schools.queryset}


# --- the city as data ------------------------------------------------------------------------------


@pytest.fixture
def hangzhou(db) -> City:
    """Seed 05 (Hangzhou, 2023): another hotline, benefits from 1 September for everyone,
    travel permits written HKG0…, MAC0…, TWN0…"""
    return City.objects.create(
        code="330100",
        name="杭州市",
        app_name="浙里办",
        hotline="0571-56089977",
        benefit_start=City.BenefitStart.SEPTEMBER,
        permit_prefixes={"3": ["HKG0", "MAC0"], "6": ["TWN0"]},
    )


def test_shanghai_is_every_installations_city_by_default(policy_year):
    assert policy_year.city.name == "上海市" and policy_year.city.hotline == "021-12393"


def test_city_hotline_on_the_students_home_page_comes_from_data(client, policy_year, hangzhou):
    assert "021-12393" in client.get(reverse("student:home")).content.decode()
    policy_year.city = hangzhou
    policy_year.save()
    html = client.get(reverse("student:home")).content.decode()
    assert "0571-56089977" in html and "021-12393" not in html


def test_second_city_starts_everyones_benefits_on_1_september(
    stored_1012, policy_year, hangzhou, filer_1012
):
    policy_year.city = hangzhou
    policy_year.save()
    record = StudentRecord.objects.filter(
        registration_date__gt=dt.date(policy_year.enrollment_year, 9, 1)
    ).first()
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        application = services.application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=filer_1012,
            paper_pledge_attested=True,
        )
    services.account_create(application_id=application.pk)
    application.refresh_from_db()
    assert application.benefit_start == dt.date(policy_year.enrollment_year, 9, 1)


def test_second_city_requires_its_travel_permit_format_at_upload(
    school_1012, filer_1012, year, rows_1012, workbook, policy_year, hangzhou
):
    row = {**rows_1012(1)[0], "证件类型": "3", "证件号码": "H12345678", "原户籍地": "香港"}
    check = dict(
        content=workbook([row]), school=school_1012, year=year, user=filer_1012, commit=False
    )
    assert roster_import(**check).errors == []  # Shanghai prescribes no format
    policy_year.city = hangzhou
    policy_year.save()
    (error,) = roster_import(**check).errors
    assert "HKG0" in error.message


def test_second_city_names_itself_and_its_hotline_on_the_result_page(
    client,
    stored_1012,
    policy_year,
    hangzhou,
    sign_in_student,
    signature_data_url,
    django_capture_on_commit_callbacks,
):
    policy_year.city = hangzhou
    policy_year.save()
    sign_in_student(client, stored_1012[0]["姓名"], stored_1012[0]["证件号码"])
    client.get(reverse("student:start"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("student:pledge"), {"agree": "on", "signature": signature_data_url})
    application = Application.objects.get()
    assert "杭州市城乡居民基本医疗保险" in application.pledge.text
    html = client.get(reverse("student:result", args=[application.approval_number])).content
    assert "0571-56089977" in html.decode() and "“杭州市”" in html.decode()


def test_permit_prefixes_of_a_city_are_checked_when_saved():
    city = City(
        code="330100", name="杭州市", app_name="浙里办", hotline="1", permit_prefixes={"1": ["X"]}
    )
    with pytest.raises(Exception, match="不能规定前缀"):
        city.full_clean()


def test_deregistered_schools_record_can_be_corrected_by_its_district(
    client, filed_at_1015, handler_minhang
):
    client.force_login(handler_minhang)
    url = reverse("enrollment:record_edit", args=[filed_at_1015.pk])
    form = client.get(url).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data["name"] = "更正后"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    filed_at_1015.refresh_from_db()
    assert filed_at_1015.name == "更正后"


def test_filers_enrollment_year_follows_the_open_policy_year_into_january(db):
    from enrollment.forms import current_enrollment_year

    policy_year_of(2026, dt.date(2027, 1, 15))
    with mock.patch("django.utils.timezone.localdate", return_value=dt.date(2027, 1, 10)):
        assert current_enrollment_year() == 2026
