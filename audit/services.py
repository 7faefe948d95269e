"""Writing the audit trail: every entry goes through `audit_record` (one INSERT).

Callers pass what they know: the request (who, from where), the student record concerned
(school, campus, person), and a small `detail` dict. Nothing here stores a full ID number or
phone: the person is a keyed hash, free text passes through the log mask.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from audit.context import current_request
from audit.models import AuditEntry
from enrollment.masking import mask_id_number, mask_phone
from enrollment.rules import normalize_id_number
from security.client import client_ip
from security.logmask import mask_personal

Action = AuditEntry.Action
STUDENT_SESSION_KEY = "student"  # confirmations.views.SESSION_STUDENT
_MASKED_FIELDS = {"id_number": mask_id_number, "phone": mask_phone}


def person_hash(id_number: str) -> str:
    """The person's key in the trail: HMAC of the normalised ID number (AUDIT_PERSON_KEY)."""
    number = normalize_id_number(id_number)
    if not number:
        return ""
    return hmac.new(settings.AUDIT_PERSON_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()


def audit_entry(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor: object | None = None,
    record: object | None = None,
    school: object | None = None,
    campus: object | None = None,
    id_number: str = "",
    target: str = "",
    detail: Mapping | None = None,
    actor_label: str = "",
) -> AuditEntry:
    """An unsaved entry (for `audit_record` or a bulk insert)."""
    request = request if request is not None else current_request.get()
    entry = AuditEntry(
        action=action,
        target=mask_personal(target)[:120],
        detail=dict(detail or {}),
        actor_kind=AuditEntry.ActorKind.SYSTEM,
    )
    if request is not None:
        entry.client_ip = client_ip(request)
        user = getattr(request, "user", None)
        if actor is None and user is not None and user.is_authenticated:
            actor = user
        elif actor is None and (student := _student_session(request)) is not None:
            entry.actor_kind = AuditEntry.ActorKind.STUDENT
            entry.actor_label = "学生（本人）"
            entry.detail.setdefault("session_records", student.get("record_ids", []))
        elif actor is None:
            entry.actor_kind = AuditEntry.ActorKind.ANONYMOUS
    if actor is not None:
        entry.actor = actor
        entry.actor_kind = AuditEntry.ActorKind.STAFF
        entry.actor_label = actor.get_username()
    if actor_label:
        entry.actor_label = mask_personal(actor_label)[:150]
    if record is not None:
        entry.record_id = record.pk
        entry.school_id = record.school_id
        entry.campus_id = record.campus_id
        id_number = id_number or record.id_number
    if school is not None:
        entry.school_id = school.pk
    if campus is not None:
        entry.campus_id = campus.pk
        entry.school_id = entry.school_id or campus.school_id
    entry.person_hash = person_hash(id_number) if id_number else ""
    return entry


def _student_session(request: HttpRequest) -> dict | None:
    session = getattr(request, "session", None)
    return session.get(STUDENT_SESSION_KEY) if session is not None else None


def audit_record(**kwargs: object) -> AuditEntry:
    """Write one audit entry now (see `audit_entry` for the arguments)."""
    entry = audit_entry(**kwargs)
    entry.save()
    return entry


def audit_record_many(entries: Iterable[AuditEntry]) -> int:
    """Write many entries in one statement per thousand (a batch delete, a batch confirmation)."""
    created = AuditEntry.objects.bulk_create(list(entries), batch_size=1000)
    return len(created)


class StoredRecord(NamedTuple):
    """What an entry needs of a student record, without loading the record."""

    pk: int
    school_id: int
    campus_id: int | None
    id_number: str


def audit_records_written(
    *, actor: object, items: Iterable[tuple[str, StoredRecord, Mapping | None]]
) -> int:
    """One entry per record a bulk write created, changed or deleted — (action, record, detail)
    each — as single edits write them, inserted in batches (COPY on PostgreSQL). The actor,
    address and request are looked up once, not per record."""
    template = audit_entry(action="", actor=actor)
    items = iter(items)
    written = 0
    while batch := list(itertools.islice(items, 5000)):
        if connection.vendor == "postgresql":
            _copy_entries(template, batch)
        else:
            AuditEntry.objects.bulk_create(
                AuditEntry(
                    action=action,
                    actor_id=template.actor_id,
                    actor_kind=template.actor_kind,
                    actor_label=template.actor_label,
                    client_ip=template.client_ip,
                    record_id=record.pk,
                    school_id=record.school_id,
                    campus_id=record.campus_id,
                    person_hash=person_hash(record.id_number),
                    detail=dict(detail or {}),
                )
                for action, record, detail in batch
            )
        written += len(batch)
    return written


_COPIED = (
    "at",
    "action",
    "actor_kind",
    "actor",
    "actor_label",
    "client_ip",
    "school",
    "campus",
    "record_id",
    "person_hash",
    "target",
    "detail",
)
_NULLABLE = ("actor", "client_ip", "school", "campus", "record_id")


def _copy_entries(template: AuditEntry, batch: list[tuple[str, StoredRecord, Mapping | None]]):
    """Insert with PostgreSQL's COPY, without a model instance per entry: a 50,000-record
    commit's entries in a fraction of what INSERTs take. Every value is quoted; an empty one
    is NULL only in the nullable columns."""
    meta = AuditEntry._meta
    quote = connection.ops.quote_name
    at = timezone.now().isoformat()
    shared = (
        template.actor_kind,
        _or_empty(template.actor_id),
        template.actor_label,
        _or_empty(template.client_ip),
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows(
        (
            at,
            action,
            *shared,
            _or_empty(record.school_id),
            _or_empty(record.campus_id),
            _or_empty(record.pk),
            person_hash(record.id_number),
            "",
            json.dumps(detail or {}, ensure_ascii=False),
        )
        for action, record, detail in batch
    )
    buffer.seek(0)
    columns = ", ".join(quote(meta.get_field(name).column) for name in _COPIED)
    nullable = ", ".join(quote(meta.get_field(name).column) for name in _NULLABLE)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN "
            f"WITH (FORMAT csv, FORCE_NULL ({nullable}))",
            buffer,
        )


def _or_empty(value: object) -> object:
    return "" if value is None else value


def masked_changes(before: Mapping[str, object], after: Mapping[str, object]) -> list[dict]:
    """Field-by-field changes, as the trail keeps them: ID numbers and phones masked."""
    changes = []
    for field, old in before.items():
        new = after.get(field)
        if old == new:
            continue
        show = _MASKED_FIELDS.get(field, lambda value: mask_personal(str(value)))
        changes.append(
            {
                "field": field,
                "old": show(_text(old)),
                "new": show(_text(new)),
            }
        )
    return changes


def _text(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y%m%d")
    return str(value)
