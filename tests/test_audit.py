"""The audit trail: who did what to which record and when; nobody can change or delete it."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AppendOnly, AuditEntry
from audit.services import person_hash
from confirmations.models import Application
from enrollment import rules
from enrollment.models import RosterUpload, StudentRecord
from schools.models import FilerDesignation

pytestmark = pytest.mark.django_db


@pytest.fixture
def filer(client, filer_1012):
    client.force_login(filer_1012)
    return client


@pytest.fixture
def admin_client(city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    admin = Client()
    admin.force_login(city_admin)
    return admin


def entries(action: str):
    return AuditEntry.objects.filter(action=action)


# --- the three the issue names: an export, an edit and a pledge view ---------------------------


@pytest.fixture
def export_entry(filer, filer_1012, stored_1012, policy_year):
    searched = filer.post(reverse("desk:activation"), {"status": "unconfirmed", "q": ""})
    token = re.search(r"s=([\w-]+)", searched.url).group(1)
    filer.get(reverse("desk:activation_export") + f"?s={token}")
    return entries("export").get()


def test_an_export_leaves_an_entry_with_its_filter_and_row_count(export_entry, filer_1012):
    assert export_entry.actor == filer_1012
    assert export_entry.detail["rows"] == 10
    assert export_entry.detail["filter"]["status"] == "unconfirmed"


@pytest.fixture
def edit_entry(filer, filer_1012, stored_1012):
    record = StudentRecord.objects.order_by("pk").first()
    data = dict(zip((spec.attribute for spec in rules.FIELDS), _form_values(record), strict=True))
    data["phone"] = "13800138000"
    data["major"] = "临床医学"
    response = filer.post(reverse("enrollment:record_edit", args=[record.pk]), data)
    assert response.status_code == 302
    return entries("record_edit").get()


def _form_values(record):
    values = record.template_values()
    return [
        values[spec.attribute].strftime("%Y%m%d")
        if spec.attribute in rules.DATE_ATTRIBUTES
        else values[spec.attribute]
        for spec in rules.FIELDS
    ]


def test_an_edit_leaves_an_entry_with_before_and_after_masked(edit_entry, stored_1012, filer_1012):
    record = StudentRecord.objects.get(pk=edit_entry.record_id)
    changes = {change["field"]: change for change in edit_entry.detail["changes"]}
    assert set(changes) == {"phone", "major"}
    old_phone = next(r["联系电话"] for r in stored_1012 if r["证件号码"] == record.id_number)
    assert changes["phone"] == {
        "field": "phone",
        "old": f"{old_phone[:3]}****{old_phone[-4:]}",
        "new": "138****8000",
    }
    assert changes["major"]["new"] == "临床医学"
    assert edit_entry.actor == filer_1012 and edit_entry.person_hash == person_hash(
        record.id_number
    )
    assert old_phone not in str(edit_entry.detail) and "13800138000" not in str(edit_entry.detail)


@pytest.fixture
def pledge_view_entry(
    stored_1012, policy_year, _sms_outbox, signature_data_url, django_capture_on_commit_callbacks
):
    from tests.test_student_pages import confirm, sign_in

    student = Client()
    sign_in(student, stored_1012[0], _sms_outbox)
    student.get(reverse("student:start"))
    confirm(student, signature_data_url, django_capture_on_commit_callbacks)
    application = Application.objects.get()
    student.get(reverse("student:signed_pledge", args=[application.approval_number]))
    return entries("pledge_view").get()


def test_a_pledge_view_leaves_an_entry(pledge_view_entry, stored_1012):
    assert pledge_view_entry.actor_kind == AuditEntry.ActorKind.STUDENT
    assert pledge_view_entry.person_hash == person_hash(stored_1012[0]["证件号码"])
    assert pledge_view_entry.target.startswith("application:")


@pytest.mark.parametrize("entry", ["export_entry", "edit_entry", "pledge_view_entry"])
def test_the_admin_cannot_edit_or_delete_an_entry(request, entry, admin_client):
    entry = request.getfixturevalue(entry)
    change_url = reverse("admin:audit_auditentry_change", args=[entry.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"action": "tampered"}).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    listing = admin_client.get(reverse("admin:audit_auditentry_changelist")).content.decode()
    assert "delete_selected" not in listing
    entry.refresh_from_db()
    assert AuditEntry.objects.filter(pk=entry.pk, action=entry.action).exists()


@pytest.mark.parametrize("entry", ["export_entry", "edit_entry", "pledge_view_entry"])
def test_no_code_path_can_change_or_delete_an_entry(request, entry):
    entry = request.getfixturevalue(entry)
    entry.detail = {"rows": 0}
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(detail={})
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditentry SET target = 'x'", "DELETE FROM audit_auditentry"]
)
def test_postgresql_refuses_update_and_delete_of_the_table(export_entry, statement):
    from django.db import DatabaseError, transaction

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEntry.objects.filter(pk=export_entry.pk, target=export_entry.target).exists()


def test_a_user_with_entries_cannot_be_deleted_only_deactivated(export_entry, filer_1012):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        filer_1012.delete()


# --- the other actions on record ---------------------------------------------------------------


def test_logins_are_recorded(client, filer_1012):
    filer_1012.set_password("pw-for-audit-1")
    filer_1012.save()
    client.post(
        reverse("login"),
        {"username": "filer1012", "password": "pw-for-audit-1"},
        REMOTE_ADDR="10.8.0.1",
    )
    entry = entries("login").get()
    assert (entry.actor, entry.client_ip) == (filer_1012, "10.8.0.1")


def test_upload_and_commit_are_recorded_with_counts(
    filer, filer_1012, school_1012, year, rows_1012, workbook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        filer.post(
            reverse("enrollment:upload_new"),
            {
                "school": school_1012.pk,
                "year": year,
                "file": SimpleUploadedFile("a.xlsx", workbook(rows_1012(4))),
            },
        )
    upload = RosterUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        filer.post(reverse("enrollment:upload_commit", args=[upload.pk]))
    assert entries("upload").get().detail["file"] == "a.xlsx"
    assert entries("upload_commit").get().actor == filer_1012
    committed = entries("upload_committed").get()
    assert committed.detail["inserted"] == 4 and committed.school == school_1012


def test_record_creation_and_deletion_are_recorded(filer, filer_1012, rows_1012):
    row = rows_1012(1)[0]
    filer.post(
        reverse("enrollment:record_create"),
        {spec.attribute: row[spec.header] for spec in rules.FIELDS},
    )
    record = StudentRecord.objects.get()
    created = entries("record_create").get()
    assert (created.record_id, created.campus_id) == (record.pk, record.campus_id)
    filer.post(reverse("enrollment:record_delete"), {"ids": [record.pk], "confirm": "yes"})
    deleted = entries("record_delete").get()
    assert deleted.record_id == record.pk and deleted.person_hash == person_hash(row["证件号码"])


def test_confirmations_in_both_channels_and_batches_are_recorded(
    filer,
    filer_1012,
    stored_1012,
    policy_year,
    pledge_view_entry,
    django_capture_on_commit_callbacks,
):
    others = list(StudentRecord.objects.order_by("pk").values_list("pk", flat=True)[1:3])
    with django_capture_on_commit_callbacks(execute=True):
        filer.post(reverse("desk:batch_confirm"), {"ids": others, "attested": "on"})
    assert entries("confirm_self").get().actor_kind == AuditEntry.ActorKind.STUDENT
    on_behalf = entries("confirm_on_behalf")
    assert sorted(on_behalf.values_list("record_id", flat=True)) == others
    assert {entry.actor for entry in on_behalf} == {filer_1012}
    batch = entries("batch_confirm").get()
    assert batch.detail["records"] == 2 and batch.detail["paper_pledges_attested"]


def test_full_id_displays_are_recorded(filer, stored_1012):
    filer.get(reverse("enrollment:record_list"))
    listing = entries("id_display").get()
    assert len(listing.detail["records"]) == 10
    filer.post(reverse("desk:query"), {"q": stored_1012[0]["学号"]}, follow=True)
    assert entries("id_display").count() == 2


def test_admin_views_of_a_record_and_a_pledge_are_recorded(admin_client, pledge_view_entry):
    application = Application.objects.get()
    admin_client.get(reverse("admin:enrollment_studentrecord_change", args=[application.record_id]))
    admin_client.get(
        reverse("admin:confirmations_signedpledge_change", args=[application.pledge.pk])
    )
    assert entries("id_display").filter(record_id=application.record_id).exists()
    staff_view = entries("pledge_view").filter(actor_kind=AuditEntry.ActorKind.STAFF).get()
    assert staff_view.record_id == application.record_id


def test_designation_changes_and_admin_edits_are_recorded(
    admin_client, city_admin, filer_1014, registry
):
    designation = FilerDesignation.objects.get(user=filer_1014)
    admin_client.post(
        reverse("admin:schools_filerdesignation_delete", args=[designation.pk]), {"post": "yes"}
    )
    removed = entries("designation_remove").get()
    assert removed.actor == city_admin and removed.campus == registry["campuses"]["101400"]
    admin_change = entries("admin_change").get()
    assert admin_change.actor == city_admin and admin_change.detail["flag"] == "delete"


# --- reading the trail ---------------------------------------------------------------------------


def test_city_admin_finds_a_persons_entries_by_id_number_without_it_in_the_url(
    admin_client, edit_entry, export_entry
):
    record = StudentRecord.objects.get(pk=edit_entry.record_id)
    response = admin_client.post(
        reverse("audit:entries"), {"id_number": record.id_number.lower()}, follow=True
    )
    ((url, _),) = response.redirect_chain
    assert record.id_number not in url
    # The person's edit, and the roster commit that created their record; no one else's.
    found = {entry.pk: entry.action for entry in response.context["page"]}
    assert sorted(found.values()) == ["record_create", "record_edit"]
    assert edit_entry.pk in found


def test_district_handler_reads_the_entries_of_their_scope_only(
    client, handler_xuhui, handler_pudong, filer, stored_1012
):
    filer.get(reverse("enrollment:record_list"))  # no campus: a list spanning both campuses
    main = StudentRecord.objects.filter(campus_code="101200").first()
    branch = StudentRecord.objects.filter(campus_code="101201").first()
    for record in (main, branch):
        filer.get(reverse("enrollment:record_edit", args=[record.pk]))
    client.force_login(handler_xuhui)
    seen = {entry.record_id for entry in client.get(reverse("audit:entries")).context["page"]}
    assert branch.pk in seen and main.pk not in seen
    client.force_login(handler_pudong)
    assert not [e for e in client.get(reverse("audit:entries")).context["page"] if e.school_id]


def test_filers_do_not_read_the_trail(filer):
    assert filer.get(reverse("audit:entries")).status_code == 403
