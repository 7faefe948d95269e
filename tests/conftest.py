"""Shared personas: the filer of school 1012, handlers of three districts, a city administrator.

The registry mirrors the demo data: 1012 has its main campus 101200 in 闵行区 and a branch
101201 in 徐汇区 with no filer of its own; 1013 (徐汇区) has no designated filer; 1015 is
deregistered; 1014 (浦东新区) has its own filer.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from enrollment.demo import demo_rows, roster_workbook
from schools.models import Campus, District, FilerDesignation, School, User

PASSWORD = "test-pass-2026"


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Tasks run in the test process; tests marked `worker` use a real worker instead."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _fresh_policy_year_cache():
    """A test's rolled-back policy year must not be the next test's (confirmations/year_cache)."""
    from confirmations import year_cache

    year_cache.clear_local()
    yield
    year_cache.clear_local()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every persona's password is hashed on creation and on each login: a fast hasher in
    tests (production keeps Django's PBKDF2) saves about half a second a user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def year() -> int:
    return timezone.localdate().year


@pytest.fixture
def today() -> dt.date:
    return timezone.localdate()


def make_user(username: str, role: str, district: District | None = None) -> User:
    return User.objects.create_user(username, password=PASSWORD, role=role, district=district)


@pytest.fixture
def registry(db):
    minhang = District.objects.create(name="闵行区")
    xuhui = District.objects.create(name="徐汇区")
    pudong = District.objects.create(name="浦东新区")
    s1012 = School.objects.create(code="1012", name="上海某某大学")
    s1013 = School.objects.create(code="1013", name="上海某某职业技术学院")
    s1014 = School.objects.create(code="1014", name="上海某某师范学院")
    s1015 = School.objects.create(
        code="1015", name="上海某某专修学院", status=School.Status.DEREGISTERED
    )
    campuses = {
        "101200": Campus.objects.create(
            code="101200", school=s1012, name="闵行校区", district=minhang
        ),
        "101201": Campus.objects.create(
            code="101201", school=s1012, name="徐汇校区", district=xuhui
        ),
        "101300": Campus.objects.create(code="101300", school=s1013, name="主校区", district=xuhui),
        "101400": Campus.objects.create(
            code="101400", school=s1014, name="主校区", district=pudong
        ),
        "101500": Campus.objects.create(
            code="101500", school=s1015, name="主校区", district=minhang
        ),
    }
    return {
        "districts": {"闵行区": minhang, "徐汇区": xuhui, "浦东新区": pudong},
        "schools": {"1012": s1012, "1013": s1013, "1014": s1014, "1015": s1015},
        "campuses": campuses,
    }


@pytest.fixture
def school_1012(registry) -> School:
    return registry["schools"]["1012"]


@pytest.fixture
def filer_1012(registry) -> User:
    user = make_user("filer1012", User.Role.SCHOOL_FILER)
    FilerDesignation.objects.create(user=user, campus=registry["campuses"]["101200"])
    return user


@pytest.fixture
def filer_1014(registry) -> User:
    user = make_user("filer1014", User.Role.SCHOOL_FILER)
    FilerDesignation.objects.create(user=user, campus=registry["campuses"]["101400"])
    return user


@pytest.fixture
def handler_minhang(registry) -> User:
    return make_user("handler_minhang", User.Role.DISTRICT_HANDLER, registry["districts"]["闵行区"])


@pytest.fixture
def handler_xuhui(registry) -> User:
    return make_user("handler_xuhui", User.Role.DISTRICT_HANDLER, registry["districts"]["徐汇区"])


@pytest.fixture
def handler_pudong(registry) -> User:
    return make_user(
        "handler_pudong", User.Role.DISTRICT_HANDLER, registry["districts"]["浦东新区"]
    )


@pytest.fixture
def city_admin(registry) -> User:
    return make_user("cityadmin", User.Role.CITY_ADMIN)


@pytest.fixture
def rows_1012(year):
    """A factory of valid roster rows for school 1012, keyed by template header."""

    def make(count: int = 3, **kwargs) -> list[dict[str, str]]:
        return demo_rows(
            count, school_code="1012", campus_codes=["101200", "101201"], year=year, **kwargs
        )

    return make


@pytest.fixture
def workbook():
    """Build an .xlsx roster from rows keyed by header (values may be any cell type)."""
    return roster_workbook


@pytest.fixture
def listed_at_1014(registry, filer_1014, year):
    """Put a 1012 student's row on 1014's roster too (student number 1014000001, campus
    101400), with any `others`, through the importer; return the person's 1014 record."""
    from enrollment.importer import roster_import
    from enrollment.models import StudentRecord

    def listed(row: dict, *others: dict) -> StudentRecord:
        at_1014 = {**row, "学号": "1014000001", "总分校编码": "101400"}
        roster_import(
            content=roster_workbook([at_1014, *others]),
            school=registry["schools"]["1014"],
            year=year,
            user=filer_1014,
            commit=True,
        )
        return StudentRecord.objects.get(school__code="1014", id_number=row["证件号码"])

    return listed


@pytest.fixture(autouse=True)
def _sms_outbox(settings):
    """One-time codes and reminders go to an in-memory outbox in tests."""
    from confirmations.sms import MemorySender

    settings.SMS_SENDER = "confirmations.sms.MemorySender"
    MemorySender.outbox.clear()
    return MemorySender.outbox


@pytest.fixture
def policy_year(db, year):
    """This year's policy year with Shanghai's benefit table (the seeds' numbers)."""
    from decimal import Decimal

    from confirmations.models import PolicyYear
    from confirmations.services import benefit_table_set
    from demo.policy import SHANGHAI_BENEFIT_TABLE

    policy_year = PolicyYear.objects.create(
        enrollment_year=year,
        closing_date=dt.date(year + 1, 1, 1),
        premium=Decimal("355"),
    )
    benefit_table_set(policy_year=policy_year, table=SHANGHAI_BENEFIT_TABLE)
    return policy_year


@pytest.fixture
def stored_1012(school_1012, filer_1012, year, rows_1012, workbook):
    """Ten freshmen of 1012 already on the roster; returns their rows (keyed by header)."""
    from enrollment.importer import roster_import

    rows = rows_1012(10)
    roster_import(
        content=workbook(rows), school=school_1012, year=year, user=filer_1012, commit=True
    )
    return rows


@pytest.fixture
def signature_png() -> bytes:
    """A PNG with a hand-drawn-like stroke, as the canvas sends it."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 180), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.line(
        [(40, 120), (120, 40), (200, 140), (320, 50), (480, 130)], fill=(16, 24, 40, 255), width=4
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def signature_data_url(signature_png) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(signature_png).decode()


@pytest.fixture
def queue_prefix(settings):
    """Queues of this test's own on the real broker: settings.QUEUES behind a unique prefix."""
    import os
    import uuid

    import redis

    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    celery_app.conf.task_always_eager = False
    settings.QUEUE_PREFIX = prefix
    yield prefix
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])  # shared: leave nothing behind
    for key in list(broker.scan_iter(match=f"*{prefix}*")):
        broker.delete(key)


@pytest.fixture
def sign_in_student(_sms_outbox):
    """Identify a student on the phone pages as they do: name, ID number, the code sent."""
    import re

    from django.urls import reverse

    def sign_in(client, name: str, id_number: str) -> None:
        client.post(reverse("student:identify"), {"name": name, "id_number": id_number})
        code = re.search(r"\d{6}", _sms_outbox[-1][1]).group()
        client.post(reverse("student:verify"), {"code": code})

    return sign_in
