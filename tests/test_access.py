"""Who gets what, for every URL of the site and every persona, from ONE table.

The URL patterns come from the resolver, not from a hand list: a new URL without a row in
ACCESS fails `test_every_url_pattern_has_a_row`. Object URLs use objects of school 1012
(main campus 101200 in 闵行区, branch 101201 in 徐汇区), so each other school and district is
checked against data that is not theirs. The admin is walked separately: its index and every
registered model's changelist.

Outcomes: OK 200 · NF 404 · FB 403 · LOGIN → staff login · ID → student identification ·
ADMIN → admin login · R another redirect (the page's own next step) · M 405 (method).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from confirmations import services
from confirmations.models import Application, BatchConfirmation
from desk import services as desk_services
from enrollment import services as enrollment_services
from enrollment.models import RosterUpload, StudentRecord

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "student",
    "filer_1012",
    "filer_1014",
    "handler_minhang",
    "handler_xuhui",
    "handler_pudong",
    "city_admin",
)
STAFF = PERSONAS[2:]


@dataclass(frozen=True)
class Row:
    """What each persona gets at one URL. `expect` lists outcomes in PERSONAS order."""

    name: str
    expect: str
    args: str = ""  # an attribute of the World (an object id), or "" for none
    method: str = "get"
    data: dict = field(default_factory=dict)
    label: str = ""

    @property
    def outcomes(self) -> dict[str, str]:
        values = self.expect.split()
        assert len(values) == len(PERSONAS), f"{self.name}: one outcome per persona"
        return dict(zip(PERSONAS, values, strict=True))


#       persona order:        anon  student f1012 f1014 h_mh  h_xh  h_pd  admin
ACCESS = [
    Row("home", "R R R R R R R R"),
    Row("favicon", "OK OK OK OK OK OK OK OK"),
    Row("login", "OK OK R R R R R R"),
    Row("logout", "M M M M M M M M"),
    Row("security:two_factor_setup", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("security:two_factor_verify", "LOGIN LOGIN R R R R R R"),
    Row("enrollment:dashboard", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("enrollment:template", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("enrollment:upload_new", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("enrollment:upload_detail", "LOGIN LOGIN OK NF NF NF NF OK", args="upload"),
    Row("enrollment:upload_status", "LOGIN LOGIN OK NF NF NF NF OK", args="upload"),
    Row("enrollment:upload_errors", "LOGIN LOGIN OK NF NF NF NF OK", args="upload"),
    Row("enrollment:upload_commit", "LOGIN LOGIN R NF NF NF NF R", args="upload", method="post"),
    Row("enrollment:record_list", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("enrollment:record_create", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row(
        "enrollment:record_edit",
        "LOGIN LOGIN OK NF OK NF NF OK",
        args="record_main",
        label="main campus",
    ),
    Row(
        "enrollment:record_edit",
        "LOGIN LOGIN OK NF OK OK NF OK",
        args="record_branch",
        label="branch",
    ),
    # Without confirm=yes: the confirmation page for records in scope, nothing to delete otherwise.
    Row(
        "enrollment:record_delete",
        "LOGIN LOGIN OK R OK OK R OK",
        method="post",
        data={"ids": "record_branch"},
    ),
    Row("student:home", "OK OK OK OK OK OK OK OK"),
    Row("student:identify", "OK OK OK OK OK OK OK OK"),
    Row("student:verify", "ID ID ID ID ID ID ID ID"),
    Row("student:resend", "ID ID ID ID ID ID ID ID", method="post"),
    Row("student:sign_out", "R R R R R R R R", method="post"),
    Row("student:start", "ID R ID ID ID ID ID ID"),
    Row("student:school", "ID OK ID ID ID ID ID ID"),
    Row("student:record", "ID R ID ID ID ID ID ID"),
    Row("student:pledge", "ID R ID ID ID ID ID ID"),
    Row("student:applications", "ID OK ID ID ID ID ID ID"),
    Row("student:submitted", "ID OK ID ID ID ID ID ID", args="own_application"),
    Row("student:result", "ID OK ID ID ID ID ID ID", args="own_application"),
    Row("student:signed_pledge", "ID OK ID ID ID ID ID ID", args="own_application"),
    Row("student:signature", "ID OK ID ID ID ID ID ID", args="own_application"),
    Row(
        "student:submitted",
        "ID NF ID ID ID ID ID ID",
        args="other_application",
        label="another student",
    ),
    Row(
        "student:result",
        "ID NF ID ID ID ID ID ID",
        args="other_application",
        label="another student",
    ),
    Row(
        "student:signed_pledge",
        "ID NF ID ID ID ID ID ID",
        args="other_application",
        label="another student",
    ),
    Row(
        "student:signature",
        "ID NF ID ID ID ID ID ID",
        args="other_application",
        label="another student",
    ),
    # The benefit guide is public; the student's own dates come only from their own records.
    Row("student:benefits", "OK OK OK OK OK OK OK OK"),
    Row("student:estimate", "OK OK OK OK OK OK OK OK"),
    Row("student:questions", "OK OK OK OK OK OK OK OK"),
    Row("desk:desk", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("desk:numbers", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("desk:activation", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("desk:activation_export", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row(
        "desk:batch_confirm",
        "LOGIN LOGIN R R R R R R",
        method="post",
        data={"ids": "record_spare", "attested": "on"},
    ),
    Row("desk:batch_upload", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("desk:batch_template", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("desk:id_list_detail", "LOGIN LOGIN OK NF NF NF NF NF", args="id_list"),
    Row("desk:batch_detail", "LOGIN LOGIN OK NF NF NF NF NF", args="batch"),
    Row("desk:retry", "LOGIN LOGIN R R R R R R", args="other_application_pk", method="post"),
    Row("desk:remind", "LOGIN LOGIN R R R R R R", method="post", data={"school": "school_1012"}),
    # 1012's students in scope: its filer, the handlers of 闵行 and 徐汇, the city administrator.
    Row("desk:remind_preview", "LOGIN LOGIN OK R OK OK R OK", data={"school": "school_1012"}),
    Row("desk:reconciliation", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("desk:query", "LOGIN LOGIN OK OK OK OK OK OK"),
    Row("audit:entries", "LOGIN LOGIN FB FB OK OK OK OK"),
]


def url_names(patterns=None, namespace: str = "") -> set[str]:
    """Every named URL pattern of the site (the admin's own are walked separately)."""
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            assert pattern.name, f"URL pattern {pattern.pattern} has no name: name it and add a row"
            names.add(namespace + pattern.name)
    return names


def test_every_url_pattern_has_a_row():
    missing = sorted(url_names() - {row.name for row in ACCESS})
    assert not missing, (
        f"URL pattern(s) {missing} have no row in ACCESS in tests/test_access.py. Add a row "
        f"saying what each persona gets there ({', '.join(PERSONAS)}), with an object of "
        "another school or district for object URLs."
    )


def test_no_row_names_a_url_that_is_gone():
    assert not {row.name for row in ACCESS} - url_names()


# --- the world every row runs in ------------------------------------------------------------------


@dataclass
class World:
    upload: str
    record_main: int
    record_branch: int
    record_spare: int
    own_application: str
    other_application: str
    other_application_pk: int
    batch: str
    id_list: str
    school_1012: int
    clients: dict[str, Client]


@pytest.fixture
def world(
    registry,
    stored_1012,
    policy_year,
    filer_1012,
    filer_1014,
    handler_minhang,
    handler_xuhui,
    handler_pudong,
    city_admin,
    signature_png,
    year,
    rows_1012,
    workbook,
    django_capture_on_commit_callbacks,
) -> World:
    school = registry["schools"]["1012"]
    main, spare = StudentRecord.objects.filter(campus_code="101200").order_by("pk")[:2]
    branch = StudentRecord.objects.filter(campus_code="101201").order_by("pk").first()
    rows = rows_1012(2)
    rows[1]["性别"] = "3"
    upload = enrollment_services.roster_upload_create(
        user=filer_1012, school=school, year=year, file_name="u.xlsx", content=workbook(rows)
    )
    enrollment_services.roster_upload_check(upload_id=upload.pk)
    assert RosterUpload.objects.get(pk=upload.pk).state == RosterUpload.State.CHECKED
    with django_capture_on_commit_callbacks(execute=True):
        own = services.application_submit(
            record=main,
            policy_year=policy_year,
            signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent=""),
        )
        batch = desk_services.batch_confirmation_create(
            user=filer_1012,
            policy_year=policy_year,
            record_ids=[branch.pk],
            attested=True,
            source="t",
        )
    other = Application.objects.get(record=branch)
    id_list = desk_services.id_list_upload_create(  # left queued: its page shows progress
        user=filer_1012,
        school=school,
        policy_year=policy_year,
        file_name="ids.xlsx",
        content=workbook([]),
        attested=True,
    )
    assert BatchConfirmation.objects.get(pk=batch.pk).state == BatchConfirmation.State.DONE

    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    users = {
        "filer_1012": filer_1012,
        "filer_1014": filer_1014,
        "handler_minhang": handler_minhang,
        "handler_xuhui": handler_xuhui,
        "handler_pudong": handler_pudong,
        "city_admin": city_admin,
    }
    clients = {persona: Client() for persona in PERSONAS}
    for persona, user in users.items():
        clients[persona].force_login(user)
    session = clients["student"].session
    session["student"] = {"record_ids": [main.pk], "since": time.time()}
    session.save()
    return World(
        upload=str(upload.pk),
        record_main=main.pk,
        record_branch=branch.pk,
        record_spare=spare.pk,
        own_application=own.approval_number,
        other_application=other.approval_number,
        other_application_pk=other.pk,
        id_list=str(id_list.pk),
        batch=str(batch.pk),
        school_1012=school.pk,
        clients=clients,
    )


def outcome(response) -> str:
    if response.status_code in (301, 302):
        location = response["Location"]
        if location.startswith(reverse("login")):
            return "LOGIN"
        if location.startswith(reverse("admin:login")):
            return "ADMIN"
        if location.startswith(reverse("student:identify")):
            return "ID"
        return "R"
    return {200: "OK", 403: "FB", 404: "NF", 405: "M"}.get(
        response.status_code, str(response.status_code)
    )


@pytest.mark.parametrize(
    "row", ACCESS, ids=[f"{row.name}{'[' + row.label + ']' if row.label else ''}" for row in ACCESS]
)
def test_each_persona_gets_what_the_table_says(world, row, django_capture_on_commit_callbacks):
    args = [getattr(world, row.args)] if row.args else []
    url = reverse(row.name, args=args)
    data = {key: getattr(world, value, value) for key, value in row.data.items()}
    got = {}
    for persona in PERSONAS:
        with django_capture_on_commit_callbacks(execute=True):
            response = getattr(world.clients[persona], row.method)(url, data)
        got[persona] = outcome(response)
    assert got == row.outcomes, url


# --- the admin ------------------------------------------------------------------------------------


def admin_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    return urls


def test_only_the_city_administrator_enters_the_admin(world):
    expected = {persona: "ADMIN" for persona in PERSONAS} | {"city_admin": "OK"}
    for url in admin_urls():
        got = {persona: outcome(world.clients[persona].get(url)) for persona in PERSONAS}
        assert got == expected, url


# --- every page's landmarks ------------------------------------------------------------------------


def test_every_page_in_the_table_has_one_main_and_one_h1(world):
    """Issue 13: a <main> landmark and exactly one <h1> on every HTML page any persona gets."""
    problems = []
    for row in ACCESS:
        if row.method != "get":
            continue
        args = [getattr(world, row.args)] if row.args else []
        url = reverse(row.name, args=args)
        for persona in PERSONAS:
            response = world.clients[persona].get(url, follow=True)
            if response.status_code != 200 or "text/html" not in response["Content-Type"]:
                continue
            html = response.content.decode()
            mains, h1s = html.count("<main"), html.count("<h1")
            if (mains, h1s) != (1, 1):
                problems.append(f"{url} as {persona}: {mains} <main>, {h1s} <h1>")
    assert not problems, "\n".join(sorted(set(problems)))
