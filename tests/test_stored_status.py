"""The status stored on each record (是否激活) after every write of the confirmation pipeline
equals the definition (STATUS_Q on the applications and accounts): the test that fails when a
write path forgets to refresh it."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.management import call_command
from django.db.models import Q

from confirmations import services, status
from confirmations.models import Application, CoverageRecord, InsuranceAccount
from desk import services as desk_services
from enrollment import services as enrollment_services
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


def stored_differs_from_definition() -> list[tuple[int, str, str]]:
    """Every record whose stored status is not what STATUS_Q says now: (pk, stored, defined)."""
    return [
        row
        for row in status.records_classified(StudentRecord.objects.all()).values_list(
            "pk", "activation_status", "computed_status"
        )
        if row[1] != row[2]
    ]


def stored(record: StudentRecord) -> str:
    return StudentRecord.objects.values_list("activation_status", flat=True).get(pk=record.pk)


@pytest.fixture
def at_1012(stored_1012) -> StudentRecord:
    return StudentRecord.objects.get(school__code="1012", id_number=stored_1012[0]["证件号码"])


@pytest.fixture
def at_1014(stored_1012, listed_at_1014) -> StudentRecord:
    """The same person also on 1014's roster (listed at two schools)."""
    return listed_at_1014(stored_1012[0])


def on_behalf(record: StudentRecord, policy_year, user) -> Application:
    return services.application_submit(
        record=record, policy_year=policy_year, confirmed_by=user, paper_pledge_attested=True
    )


def test_new_records_are_stored_as_unconfirmed(at_1012):
    assert stored(at_1012) == status.STATUS_UNCONFIRMED
    assert stored_differs_from_definition() == []


def test_self_confirmation_stores_pending_here_and_elsewhere_at_the_other_school(
    at_1012, at_1014, policy_year, signature_png
):
    services.application_submit(
        record=at_1012,
        policy_year=policy_year,
        signature=services.PledgeSignature(png=signature_png, client_ip=None, user_agent=""),
    )
    assert (stored(at_1012), stored(at_1014)) == (status.STATUS_PENDING, status.STATUS_ELSEWHERE)
    assert stored_differs_from_definition() == []


def test_confirmation_on_behalf_stores_pending(at_1012, policy_year, filer_1012):
    on_behalf(at_1012, policy_year, filer_1012)
    assert stored(at_1012) == status.STATUS_PENDING
    assert stored_differs_from_definition() == []


def test_batch_confirmation_stores_every_confirmed_student_as_pending(
    stored_1012, policy_year, filer_1012, settings
):
    settings.BATCH_CHUNK_SIZE = 4  # three chunks: each refreshes its own people
    records = list(StudentRecord.objects.filter(school__code="1012").order_by("pk"))
    batch = desk_services.batch_confirmation_create(
        user=filer_1012,
        policy_year=policy_year,
        record_ids=[record.pk for record in records],
        attested=True,
        source="test",
    )
    while desk_services.batch_confirmation_run(batch_id=batch.pk):
        pass
    assert {stored(record) for record in records} == {status.STATUS_PENDING}
    assert stored_differs_from_definition() == []


def test_account_created_stores_activated_here_and_elsewhere_at_the_other_school(
    at_1012, at_1014, policy_year, filer_1012
):
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_create(application_id=application.pk)
    assert (stored(at_1012), stored(at_1014)) == (status.STATUS_ACTIVATED, status.STATUS_ELSEWHERE)
    assert stored_differs_from_definition() == []


def test_account_refused_stores_failed(at_1012, policy_year, filer_1012):
    CoverageRecord.objects.create(id_number=at_1012.id_number, name=at_1012.name, kind="employee")
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_create(application_id=application.pk)
    assert stored(at_1012) == status.STATUS_FAILED
    assert stored_differs_from_definition() == []


def test_waiting_period_stores_waiting(at_1012, policy_year, filer_1012):
    CoverageRecord.objects.create(
        id_number=at_1012.id_number, name=at_1012.name, kind="lapsed", gap_years=1
    )
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_create(application_id=application.pk)
    assert stored(at_1012) == status.STATUS_WAITING
    assert stored_differs_from_definition() == []


def test_account_on_the_day_after_the_waiting_period_stores_activated(
    at_1012, policy_year, filer_1012, year
):
    CoverageRecord.objects.create(
        id_number=at_1012.id_number, name=at_1012.name, kind="lapsed", gap_years=1
    )
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_create(application_id=application.pk)
    application.refresh_from_db()
    services.account_create(application_id=application.pk, today=application.account_on)
    assert stored(at_1012) == status.STATUS_ACTIVATED
    assert stored_differs_from_definition() == []


def test_technical_failure_after_the_last_retry_stores_failed(at_1012, policy_year, filer_1012):
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_fail_technically(application_id=application.pk)
    assert stored(at_1012) == status.STATUS_FAILED
    assert stored_differs_from_definition() == []


def test_retry_of_a_technical_failure_stores_pending(at_1012, policy_year, filer_1012):
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_fail_technically(application_id=application.pk)
    with mock.patch("confirmations.tasks.create_account.apply_async"):
        desk_services.application_retry(user=filer_1012, application_id=application.pk)
    assert stored(at_1012) == status.STATUS_PENDING
    assert stored_differs_from_definition() == []


def test_failure_here_then_an_account_elsewhere_stores_elsewhere(
    at_1012, at_1014, policy_year, filer_1012, filer_1014
):
    employee = CoverageRecord.objects.create(
        id_number=at_1012.id_number, name=at_1012.name, kind="employee"
    )
    failed = on_behalf(at_1012, policy_year, filer_1012)
    services.account_create(application_id=failed.pk)
    employee.delete()  # the student stopped their employee insurance
    application = on_behalf(at_1014, policy_year, filer_1014)
    services.account_create(application_id=application.pk)
    assert (stored(at_1012), stored(at_1014)) == (status.STATUS_ELSEWHERE, status.STATUS_ACTIVATED)
    assert stored_differs_from_definition() == []


def test_import_of_a_person_who_applied_elsewhere_stores_elsewhere(
    at_1012, stored_1012, policy_year, filer_1012, year, listed_at_1014
):
    on_behalf(at_1012, policy_year, filer_1012)
    at_1014 = listed_at_1014(stored_1012[0], *_others_at_1014(year))
    assert stored(at_1014) == status.STATUS_ELSEWHERE
    assert StudentRecord.objects.filter(
        school__code="1014", activation_status=status.STATUS_UNCONFIRMED
    ).count() == len(_others_at_1014(year))
    assert stored_differs_from_definition() == []


def _others_at_1014(year: int) -> list[dict]:
    from enrollment.demo import demo_rows

    return demo_rows(3, school_code="1014", campus_codes=["101400"], year=year, start=900)


def test_a_new_record_added_by_hand_for_a_person_with_an_account_stores_elsewhere(
    at_1012, stored_1012, policy_year, filer_1012, filer_1014, registry, year
):
    application = on_behalf(at_1012, policy_year, filer_1012)
    services.account_create(application_id=application.pk)
    raw = _raw({**stored_1012[0], "学号": "1014000001", "总分校编码": "101400"})
    record = enrollment_services.record_save(
        user=filer_1014, school=registry["schools"]["1014"], year=year, raw=raw
    )
    assert stored(record) == status.STATUS_ELSEWHERE
    assert stored_differs_from_definition() == []


def test_id_number_corrected_to_a_person_who_applied_elsewhere_stores_elsewhere(
    at_1012, stored_1012, policy_year, filer_1012, filer_1014, registry, year, listed_at_1014
):
    other = _others_at_1014(year)[0]
    record = listed_at_1014(other)
    on_behalf(at_1012, policy_year, filer_1012)
    assert stored(record) == status.STATUS_UNCONFIRMED
    raw = _raw({**other, "证件号码": at_1012.id_number, "姓名": at_1012.name})
    raw.update(birth_date=stored_1012[0]["出生日期"], sex=stored_1012[0]["性别"])
    enrollment_services.record_save(
        user=filer_1014,
        school=registry["schools"]["1014"],
        year=year,
        raw=raw,
        record=record,
    )
    assert stored(record) == status.STATUS_ELSEWHERE
    assert stored_differs_from_definition() == []


def test_id_number_corrected_away_from_an_application_reclassifies_both_people(
    at_1012, at_1014, stored_1012, policy_year, filer_1012, filer_1014, registry, year
):
    """An application made through a record keeps the ID number it was made with: after the
    record's number is corrected, the old person's other record counts it as elsewhere still,
    and the record itself is the new person's, with its own application."""
    on_behalf(at_1012, policy_year, filer_1012)
    other = _others_at_1014(year)[1]
    raw = _raw({**stored_1012[0], "证件号码": other["证件号码"], "姓名": stored_1012[0]["姓名"]})
    raw.update(birth_date=other["出生日期"], sex=other["性别"])
    enrollment_services.record_save(
        user=filer_1012, school=registry["schools"]["1012"], year=year, raw=raw, record=at_1012
    )
    assert StudentRecord.objects.get(pk=at_1012.pk).id_number == other["证件号码"]
    assert (stored(at_1012), stored(at_1014)) == (status.STATUS_PENDING, status.STATUS_ELSEWHERE)
    assert stored_differs_from_definition() == []


def _raw(row: dict) -> dict:
    from enrollment import rules

    return {spec.attribute: row[spec.header] for spec in rules.FIELDS}


def test_refresh_statuses_command_corrects_and_counts_wrong_statuses(
    at_1012, at_1014, policy_year, filer_1012, capsys
):
    on_behalf(at_1012, policy_year, filer_1012)
    StudentRecord.objects.filter(pk__in=[at_1012.pk, at_1014.pk]).update(
        activation_status=status.STATUS_ACTIVATED
    )
    call_command("refresh_statuses", chunk=3)
    assert "已更正 2 条" in capsys.readouterr().out
    assert (stored(at_1012), stored(at_1014)) == (status.STATUS_PENDING, status.STATUS_ELSEWHERE)
    call_command("refresh_statuses")
    assert "已更正 0 条" in capsys.readouterr().out


def test_refresh_of_a_person_writes_nothing_when_nothing_changed(at_1012, at_1014):
    assert status.statuses_refresh(id_numbers=[at_1012.id_number]) == 0


def test_status_changes_leave_the_record_version_alone(at_1012, policy_year, filer_1012):
    """A form opened before a confirmation still saves: the status is not the filer's data."""
    version = at_1012.version
    on_behalf(at_1012, policy_year, filer_1012)
    assert StudentRecord.objects.get(pk=at_1012.pk).version == version


def test_account_made_outside_the_pipeline_counts_after_a_refresh(at_1012):
    """Accounts are written by the gateway inside account_create, which refreshes; one written
    another way (a test, a repair) needs the refresh that the write paths call."""
    InsuranceAccount.objects.create(id_number=at_1012.id_number, name=at_1012.name)
    assert stored_differs_from_definition() == [
        (at_1012.pk, status.STATUS_UNCONFIRMED, status.STATUS_ELSEWHERE)
    ]
    status.statuses_refresh(id_numbers=[at_1012.id_number])
    assert stored(at_1012) == status.STATUS_ELSEWHERE


def test_the_classification_compiled_once_reads_what_the_orm_reads(
    at_1012, at_1014, stored_1012, policy_year, filer_1012
):
    """A few people are classified with the ORM's SQL compiled once: the same rows, with the
    account half a boolean on every database."""
    on_behalf(at_1012, policy_year, filer_1012)
    other = stored_1012[1]["证件号码"]
    InsuranceAccount.objects.create(id_number=other, name=stored_1012[1]["姓名"])
    people = sorted({at_1012.id_number, other})
    condition = Q(id_number__in=people)
    compiled = sorted(status._status_rows(condition, people), key=lambda row: row["pk"])
    assert compiled == sorted(status._keyed_records().filter(condition), key=lambda r: r["pk"])
    assert {row["account_elsewhere"] for row in compiled} == {True, False}
    assert all(type(row["account_elsewhere"]) is bool for row in compiled)


def test_admin_import_of_a_person_who_applied_elsewhere_stores_elsewhere(
    at_1012, stored_1012, policy_year, filer_1012, city_admin
):
    import tablib

    from enrollment import rules
    from enrollment.resources import StudentRecordResource

    on_behalf(at_1012, policy_year, filer_1012)
    row = {**stored_1012[0], "学号": "1014000001", "总分校编码": "101400"}
    data = tablib.Dataset(headers=list(rules.HEADERS))
    data.append([row[header] for header in rules.HEADERS])
    result = StudentRecordResource(user=city_admin).import_data(data, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    at_1014 = StudentRecord.objects.get(school__code="1014", id_number=at_1012.id_number)
    assert stored(at_1014) == status.STATUS_ELSEWHERE
    assert stored_differs_from_definition() == []


def test_admin_edit_of_the_id_number_reclassifies_the_record(
    client,
    at_1012,
    stored_1012,
    policy_year,
    filer_1012,
    city_admin,
    year,
    listed_at_1014,
):
    from django.forms.models import model_to_dict
    from django.urls import reverse

    record = listed_at_1014(_others_at_1014(year)[2])
    on_behalf(at_1012, policy_year, filer_1012)
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    client.force_login(city_admin)
    data = {
        key: ("" if value is None else value)
        for key, value in model_to_dict(record).items()
        if key not in {"id", "created_by", "updated_by", "version", "activation_status"}
    }
    data["id_number"] = at_1012.id_number
    response = client.post(reverse("admin:enrollment_studentrecord_change", args=[record.pk]), data)
    assert response.status_code == 302
    assert StudentRecord.objects.get(pk=record.pk).id_number == at_1012.id_number
    assert stored(record) == status.STATUS_ELSEWHERE
    assert stored_differs_from_definition() == []


def test_status_of_refuses_a_negated_condition_whose_sql_meaning_differs():
    """SQL's NOT of a comparison with NULL does not hold; Python's would: not evaluated."""
    from django.db.models import Q

    with pytest.raises(ValueError):
        status._holds(~Q(app_state="failed"), {"app_state": None})


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"app_state": None, "elsewhere_state": None, "account_elsewhere": False}, "unconfirmed"),
        ({"app_state": None, "elsewhere_state": "failed", "account_elsewhere": False}, "elsewhere"),
        ({"app_state": None, "elsewhere_state": None, "account_elsewhere": True}, "elsewhere"),
        (
            {"app_state": "failed", "elsewhere_state": "pending", "account_elsewhere": False},
            "elsewhere",
        ),
        ({"app_state": "failed", "elsewhere_state": "failed", "account_elsewhere": True}, "failed"),
        (
            {"app_state": "created", "elsewhere_state": None, "account_elsewhere": False},
            "activated",
        ),
        ({"app_state": "waiting", "elsewhere_state": None, "account_elsewhere": False}, "waiting"),
        (
            {"app_state": "pending", "elsewhere_state": "failed", "account_elsewhere": False},
            "pending",
        ),
    ],
)
def test_status_of_reads_status_q_with_sql_answers_for_null(keys, expected):
    assert status.status_of(keys) == expected
