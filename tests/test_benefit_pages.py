"""My benefits, the estimator and the questions: the student's pages after the account (issue 15)."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from confirmations.estimator import HospitalLevel, VisitKind
from confirmations.models import Application, BenefitRule, CoverageRecord, Question
from tests.test_student_pages import confirm, sign_in

pytestmark = pytest.mark.django_db

ESTIMATE = reverse("student:estimate")


@pytest.fixture
def student(stored_1012, policy_year):
    return stored_1012[0]


@pytest.fixture
def signed_in(client, student, _sms_outbox):
    sign_in(client, student, _sms_outbox)
    return client


@pytest.fixture
def created(signed_in, signature_data_url, django_capture_on_commit_callbacks):
    """The signed-in student's application, confirmed and its account created."""
    signed_in.get(reverse("student:start"))
    confirm(signed_in, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    assert application.state == Application.State.CREATED
    return application


def post_estimate(client, **fields):
    data = {"deductible_paid": "0", **fields}
    return client.post(ESTIMATE, data)


def text(response) -> str:
    """The page's visible words, without tags, for checking sentences."""
    parser = _Text()
    parser.feed(response.content.decode())
    return " ".join("".join(parser.parts).split())


class _Text(HTMLParser):
    BLOCKS = {"p", "div", "li", "dt", "dd", "h1", "h2", "h3", "td", "th", "summary", "label", "br"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style", "title")
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style", "title")
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


# My benefits ------------------------------------------------------------------------------


def test_benefits_page_explains_the_years_table_without_identification(client, policy_year):
    response = client.get(reverse("student:benefits"))
    page = text(response)
    assert response.status_code == 200
    assert "累计满 300 元（起付线）后" in page
    assert "每次住院，先由您自己支付起付标准" in page
    assert "不设起付线，由医保基金支付 80%，您自付 20%" in page
    assert "再报销 60%；本市低保、低收入家庭成员再报销 65%" in page
    html = response.content.decode()
    assert '<th scope="col">医保基金支付</th>' in html and '<th scope="col">起付标准</th>' in html
    assert "核验身份，查看我本人的日期" in page


def test_benefits_page_shows_the_students_own_benefit_period_and_voucher_time(client, created):
    page = text(client.get(reverse("student:benefits")))
    assert f"待遇享受期 {created.benefit_start:%Y-%m-%d} 至 {created.benefit_end:%Y-%m-%d}" in page
    voucher = timezone.localtime(created.voucher_from)
    assert f"{voucher:%Y-%m-%d %H:%M} 后可申领" in page
    assert "待遇等待期" not in page


def test_benefits_page_shows_the_waiting_period_when_there_is_one(
    signed_in, student, signature_data_url, django_capture_on_commit_callbacks
):
    CoverageRecord.objects.create(
        id_number=student["证件号码"], name=student["姓名"], kind="lapsed", gap_years=1
    )
    signed_in.get(reverse("student:start"))
    confirm(signed_in, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    page = text(signed_in.get(reverse("student:benefits")))
    assert f"待遇等待期 至 {application.waiting_until:%Y-%m-%d}" in page
    assert "等待期内发生的医疗费用，医保不予报销" in page


def test_benefits_page_tells_a_pending_student_the_dates_come_with_the_account(
    signed_in, signature_data_url, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("confirmations.tasks.create_account.apply_async", lambda *a, **k: None)
    signed_in.get(reverse("student:start"))
    confirm(signed_in, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    page = text(signed_in.get(reverse("student:benefits")))
    assert f"正在办理（统一审批编号 {application.approval_number}）" in page
    assert "待遇享受期 " not in page.split("待遇享受期", 1)[1][:3]  # no dates yet


def test_benefits_page_does_not_cache_the_students_dates(client, created):
    response = client.get(reverse("student:benefits"))
    assert "no-store" in response["Cache-Control"]


def test_home_and_result_pages_lead_to_my_benefits(client, created):
    benefits = reverse("student:benefits")
    assert f'href="{benefits}"' in client.get(reverse("student:home")).content.decode()
    result = client.get(reverse("student:result", args=[created.approval_number]))
    assert f'href="{benefits}"' in result.content.decode()


def test_home_renders_the_table_from_the_structured_rules(client, policy_year):
    BenefitRule.objects.filter(
        visit_kind=VisitKind.OUTPATIENT, hospital_level=HospitalLevel.LEVEL_1
    ).update(fund_share_percent=Decimal("72.5"))
    html = client.get(reverse("student:home")).content.decode()
    assert '<td class="num">72.5%</td>' in html and '<td class="num">27.5%</td>' in html


# The estimator ----------------------------------------------------------------------------


def test_estimator_explains_the_first_220_yuan_visit(client, policy_year):
    response = post_estimate(
        client, visit_kind="outpatient", hospital_level="2", covered_costs="220"
    )
    page = text(response)
    assert "医保基金支付 0 元" in page and "您自付 220 元" in page
    assert (
        "校外门急诊起付线 300 元/年，今年已计入 0 元，还差 300 元。"
        "本次费用中 220 元计入起付线，由您自付；计入后还差 80 元。"
    ) in page
    assert "本次费用没有超过起付线，医保基金不支付。" in page


def test_estimator_explains_1000_yuan_at_a_level_2_hospital_after_300_spent(client, policy_year):
    page = text(
        post_estimate(
            client,
            visit_kind="outpatient",
            hospital_level="2",
            covered_costs="1000",
            deductible_paid="300",
        )
    )
    assert "医保基金支付 600 元" in page and "您自付 400 元" in page
    assert "今年已计入 300 元，起付线已满。" in page
    assert (
        "超过起付线的 1,000 元，在二级医院由医保基金支付 60%（600 元），您自付 40%（400 元）"
        in page
    )


def test_estimator_adds_the_low_income_serious_illness_top_up(client, policy_year):
    page = text(
        post_estimate(
            client,
            visit_kind="inpatient",
            hospital_level="3",
            covered_costs="10000",
            serious_illness="on",
            low_income="on",
        )
    )
    # 300 + 9,700 × 40 % = 4,180 after the insurance; 65 % of it = 2,717; 1,463 left.
    assert "医保基金支付 5,820 元 大病保险再报销 2,717 元 您自付 1,463 元" in page
    assert "三级医院住院起付标准 300 元/次" in page


def test_estimator_ignores_the_level_at_the_campus_clinic(client, policy_year):
    page = text(post_estimate(client, visit_kind="campus_clinic", covered_costs="100"))
    assert "医保基金支付 80 元" in page and "校内门诊不设起付线" in page


def test_estimator_asks_for_the_level_beside_the_field(client, policy_year):
    response = post_estimate(client, visit_kind="inpatient", covered_costs="1000")
    page = text(response)
    assert "估算结果" not in page
    assert "医院级别：请选择医院级别" in page  # the summary at the top
    assert response.content.decode().count("请选择医院级别（校外门急诊和住院按医院级别支付）") == 2


@pytest.mark.parametrize("typed", ["１,０００元", "1,000", " 1000.00 "])
def test_estimator_reads_amounts_as_typed_on_a_phone(client, policy_year, typed):
    page = text(
        post_estimate(
            client,
            visit_kind="outpatient",
            hospital_level="2",
            covered_costs=typed,
            deductible_paid="300",
        )
    )
    assert "医保基金支付 600 元" in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-5", "金额不能为负数"),
        ("abc", "请填写金额（元），如 220 或 1000.50"),
        ("100000000", "金额不能超过 10,000,000 元"),
        ("12.345", "金额最多保留两位小数（到分）"),
    ],
)
def test_estimator_refuses_amounts_it_cannot_use(client, policy_year, typed, message):
    response = post_estimate(client, visit_kind="campus_clinic", covered_costs=typed)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "估算结果" not in text(response)


@pytest.mark.parametrize(
    "fields",
    [
        {"visit_kind": "x", "covered_costs": "100"},
        {"visit_kind": "outpatient", "hospital_level": "any", "covered_costs": "100"},
        {"visit_kind": "campus_clinic", "covered_costs": "1e400"},
        {"visit_kind": "campus_clinic", "covered_costs": "NaN"},
        {"visit_kind": "campus_clinic", "covered_costs": "1" * 5000},
        {"visit_kind": "campus_clinic", "covered_costs": "100", "deductible_paid": "1e-9"},
    ],
)
def test_estimator_refuses_hostile_posts_on_the_page(client, created, fields):
    response = post_estimate(client, **{"visit_date": "9999-99-99", **fields})
    assert response.status_code == 200
    assert "请修改以下内容" in text(response) and "估算结果" not in text(response)


@pytest.mark.parametrize("field", ["covered_costs", "deductible_paid"])
@pytest.mark.parametrize(
    "typed",
    [
        "1e999999",
        "1e999999999",
        "-1e999999999",
        "1E+1000000",
        "9999999999999999999999",
        "1e-999999999",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
    ],
)
def test_estimator_refuses_absurd_numbers_with_a_form_error(client, policy_year, field, typed):
    fields = {"visit_kind": "campus_clinic", "covered_costs": "100", field: typed}
    response = post_estimate(client, **fields)
    assert response.status_code == 200
    assert "请修改以下内容" in text(response) and "估算结果" not in text(response)


def test_estimator_reads_a_zero_with_a_huge_exponent_as_zero(client, policy_year):
    page = text(post_estimate(client, visit_kind="campus_clinic", covered_costs="0e999999999"))
    assert "本次费用 0 元" in page and "E+" not in page


def test_estimator_prints_a_typed_minus_zero_as_zero(client, policy_year):
    page = text(post_estimate(client, visit_kind="campus_clinic", covered_costs="-0"))
    assert "本次费用 0 元" in page and "-0" not in page


def test_estimator_stores_nothing_and_logs_no_amount(client, created, caplog):
    caplog.set_level(logging.DEBUG)
    with CaptureQueriesContext(connection) as queries:
        response = post_estimate(
            client,
            visit_kind="outpatient",
            hospital_level="3",
            covered_costs="98765.43",
            serious_illness="on",
        )
    assert "本次费用 98,765.43 元" in text(response)
    writes = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
    ]
    assert writes == []
    assert all("98765" not in record.getMessage() for record in caplog.records)
    assert "no-store" in response["Cache-Control"]


def test_estimator_form_posts_so_amounts_never_enter_the_url(client, policy_year):
    html = client.get(ESTIMATE).content.decode()
    assert '<form class="panel" method="post"' in html
    answered = client.get(ESTIMATE, {"visit_kind": "campus_clinic", "covered_costs": "100"})
    assert "估算结果" not in text(answered)


def test_visit_inside_the_students_waiting_period_is_not_covered(client, created):
    Application.objects.filter(pk=created.pk).update(
        waiting_until=created.benefit_end - dt.timedelta(days=20),
        benefit_start=created.benefit_end - dt.timedelta(days=19),
    )
    visit_on = created.benefit_end - dt.timedelta(days=25)
    page = text(
        post_estimate(
            client,
            visit_kind="outpatient",
            hospital_level="1",
            covered_costs="1000",
            visit_date=f"{visit_on:%Y-%m-%d}",
        )
    )
    assert "医保不予支付。 本次费用 1,000 元 您自付 1,000 元" in page
    assert "等待期内发生的医疗费用医保不予报销，需个人承担" in page


@pytest.fixture
def usable_from_october(created, year):
    """Benefits from 1 September, the account usable (e-voucher) from 1 October 09:00."""
    Application.objects.filter(pk=created.pk).update(
        benefit_start=dt.date(year, 9, 1),
        voucher_from=timezone.make_aware(dt.datetime(year, 10, 1, 9, 0)),
    )


def test_cash_paid_visit_before_the_account_says_to_claim_within_6_months(
    client, usable_from_october, year
):
    page = text(
        post_estimate(
            client,
            visit_kind="outpatient",
            hospital_level="2",
            covered_costs="1000",
            deductible_paid="300",
            visit_date=f"{year}-09-15",
        )
    )
    assert "医保基金支付 600 元" in page
    assert f"6 个月内（按就诊日计，至 {year + 1}-03-14）申请零星报销" in page


def test_cash_paid_campus_clinic_visit_before_the_account_says_to_re_settle(
    client, usable_from_october, year
):
    page = text(
        post_estimate(
            client, visit_kind="campus_clinic", covered_costs="100", visit_date=f"{year}-09-15"
        )
    )
    assert "请回到校内医保定点医疗机构退费，再持社会保障卡或刷医保电子凭证重新结算" in page


def test_anonymous_estimate_has_no_date_and_says_how_it_was_counted(client, policy_year):
    html = client.get(ESTIMATE).content.decode()
    assert 'name="visit_date"' not in html
    page = text(post_estimate(client, visit_kind="campus_clinic", covered_costs="100"))
    assert "按在待遇享受期内就诊计算" in page


def test_estimator_without_a_published_table_says_so(client, policy_year):
    BenefitRule.objects.all().delete()
    assert "本年度待遇表尚未发布，暂不能估算" in text(client.get(ESTIMATE))


def test_benefit_pages_without_a_policy_year_say_it_is_not_published(client, db):
    for name in ("benefits", "estimate", "questions"):
        response = client.get(reverse(f"student:{name}"))
        assert "本年度大学生医保待遇尚未发布" in text(response), name


# Questions --------------------------------------------------------------------------------


@pytest.fixture
def questions(policy_year):
    from demo.policy import SHANGHAI_QUESTIONS

    for order, (question, answer, source, keywords) in enumerate(SHANGHAI_QUESTIONS, start=1):
        Question.objects.create(
            policy_year=policy_year,
            question=question,
            answer=answer,
            source=source,
            keywords=keywords,
            order=order,
        )
    return Question.objects.all()


def test_questions_search_finds_a_word_in_the_answer(client, questions):
    page = text(client.get(reverse("student:questions"), {"q": "异地就医备案"}))
    assert "如何办理异地就医备案？" in page
    assert "为什么没有享受医保待遇" not in page


def test_questions_whose_question_matches_come_first(client, questions):
    page = text(client.get(reverse("student:questions"), {"q": "急诊"}))
    assert page.index("急诊费用可以申请报销吗？") < page.index("为什么没有享受医保待遇")


def test_questions_search_needs_every_word(client, questions):
    page = text(client.get(reverse("student:questions"), {"q": "急诊 6 个月"}))
    assert "急诊费用可以申请报销吗？" in page
    assert "申领医保码后无法刷码结算" not in page


def test_question_cites_its_policy_year_and_source(client, questions, year):
    page = text(client.get(reverse("student:questions"), {"q": "220"}))
    assert f"适用于 {year} 年度 · 出处：上海医保服务《大学生医保 Q&A》第八问" in page


def test_questions_search_reads_full_width_digits(client, questions):
    assert "还有问题，可以咨询哪里？" in text(
        client.get(reverse("student:questions"), {"q": "１２３９３"})
    )


def test_unpublished_questions_are_not_shown(client, questions):
    Question.objects.filter(question__startswith="急诊").update(is_published=False)
    page = text(client.get(reverse("student:questions")))
    assert "急诊费用可以申请报销吗？" not in page and "还有问题，可以咨询哪里？" in page


def test_long_search_is_cut_not_refused(client, questions):
    response = client.get(reverse("student:questions"), {"q": "急诊" * 500})
    assert response.status_code == 200
    assert "找到 0 个问题" in text(response)


def test_questions_page_lists_every_published_question_without_a_search(client, questions):
    html = client.get(reverse("student:questions")).content.decode()
    assert html.count('<details class="qa"') == questions.count()


# The admin --------------------------------------------------------------------------------


class _FormFields(HTMLParser):
    """The values a browser would submit from the page's form."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value", "on")
            else:
                self.data[name] = a.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def admin_change_form(client, policy_year) -> tuple[str, dict[str, str]]:
    url = reverse("admin:confirmations_policyyear_change", args=[policy_year.pk])
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    return url, parser.data


def set_outpatient_deductible(data: dict[str, str], amount: str) -> None:
    for key, value in list(data.items()):
        if key.endswith("-visit_kind") and value == VisitKind.OUTPATIENT:
            data[key.removesuffix("visit_kind") + "deductible"] = amount


@pytest.fixture
def admin_client(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    return client


def test_city_admin_changes_the_outpatient_deductible_and_the_estimator_follows(
    admin_client, policy_year
):
    visit = {"visit_kind": "outpatient", "hospital_level": "2", "covered_costs": "400"}
    # 300 deductible: 100 above it × 60 % = 60 from the fund.
    assert "医保基金支付 60 元" in text(post_estimate(admin_client, **visit))

    url, data = admin_change_form(admin_client, policy_year)
    set_outpatient_deductible(data, "500")
    response = admin_client.post(url, data)
    assert response.status_code == 302, text(response)[:2000]
    assert set(
        BenefitRule.objects.filter(visit_kind=VisitKind.OUTPATIENT).values_list(
            "deductible", flat=True
        )
    ) == {Decimal("500")}

    # 500 deductible: all 400 under it, nothing from the fund, 100 still to go.
    page = text(post_estimate(admin_client, **visit))
    assert "医保基金支付 0 元" in page and "校外门急诊起付线 500 元/年" in page
    assert "计入后还差 100 元" in page


def test_admin_refuses_different_yearly_deductibles_by_level(admin_client, policy_year):
    url, data = admin_change_form(admin_client, policy_year)
    level_1 = next(
        k
        for k, v in data.items()
        if k.endswith("-visit_kind")
        and v == VisitKind.OUTPATIENT
        and data[k.removesuffix("visit_kind") + "hospital_level"] == "1"
    )
    data[level_1.removesuffix("visit_kind") + "deductible"] = "200"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "各级医院应填写相同的起付线" in response.content.decode()
    assert BenefitRule.objects.get(visit_kind="outpatient", hospital_level="1").deductible == 300


def test_admin_refuses_a_share_above_100_percent(admin_client, policy_year):
    url, data = admin_change_form(admin_client, policy_year)
    key = next(k for k, v in data.items() if k.endswith("-visit_kind") and v == "campus_clinic")
    data[key.removesuffix("visit_kind") + "fund_share_percent"] = "120"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert BenefitRule.objects.get(visit_kind="campus_clinic").fund_share_percent == 80


def test_policy_year_admin_shows_every_editable_field():
    # The admin groups the fields; a field added to PolicyYear must be placed in a group too.
    from django.contrib import admin

    from confirmations.models import PolicyYear

    model_admin = admin.site._registry[PolicyYear]
    shown = {f for _, options in model_admin.fieldsets for f in options["fields"]}
    editable = {
        f.name
        for f in PolicyYear._meta.get_fields()
        if getattr(f, "editable", False) and not f.auto_created and f.concrete
    }
    assert editable <= shown


def test_city_admin_edits_a_question(admin_client, questions):
    question = questions.get(question__startswith="急诊")
    url = reverse("admin:confirmations_question_change", args=[question.pk])
    parser = _FormFields()
    parser.feed(admin_client.get(url).content.decode())
    parser.data["answer"] = "可以。新的答复。"
    assert admin_client.post(url, parser.data).status_code == 302
    page = text(admin_client.get(reverse("student:questions"), {"q": "新的答复"}))
    assert "急诊费用可以申请报销吗？" in page
