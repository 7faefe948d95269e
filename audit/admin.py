"""The audit trail in the admin: read only for everyone, superusers included.

Searching by person (an ID number) is on the staff page /audit/, by POST, so that the number
never lands in a URL; the admin searches user names, targets and school codes.
"""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEntry
from audit.services import (
    Action,
    StoredRecord,
    audit_record,
    audit_records_written,
    masked_changes,
)
from security.logmask import mask_personal


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "school", "campus", "target", "client_ip"]
    list_filter = ["action", "actor_kind"]
    date_hierarchy = "at"
    search_fields = ["actor_label", "target", "school__code"]
    list_select_related = ["school", "campus"]
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditedAdminMixin:
    """For admins of models that carry personal data.

    Opening an object shows its full ID number (or a signed pledge): that is recorded, and so
    is every export and import through django-import-export.
    """

    audit_view_action = Action.ID_DISPLAY

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            obj = self.get_object(request, object_id)
            if obj is not None:
                audit_record(
                    action=self.audit_view_action,
                    request=request,
                    record=self.audit_record_of(obj),
                    id_number=getattr(obj, "id_number", ""),
                    target=f"{self.opts.label_lower}:{obj.pk}",
                    detail={"via": "admin"},
                )
        return response

    def audit_record_of(self, obj):
        """The student record an object is about (for school, campus and person), if any."""
        return None

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        detail = {
            "via": "admin",
            "rows": queryset.count(),
            "filter": {key: mask_personal(value) for key, value in request.GET.items()},
        }
        audit_record(
            action=Action.EXPORT, request=request, target=self.opts.label_lower, detail=detail
        )
        if self._shows_id_numbers():  # the file carries full ID numbers: a display as well
            audit_record(
                action=Action.ID_DISPLAY,
                request=request,
                target=f"{self.opts.label_lower} export",
                detail={**detail, "full_id_numbers": True},
            )
        return data

    def import_action(self, request, **kwargs):
        """The import's preview lists every row with its full ID number: a display."""
        response = super().import_action(request, **kwargs)
        result = (getattr(response, "context_data", None) or {}).get("result")
        if result is not None and self._shows_id_numbers():
            audit_record(
                action=Action.ID_DISPLAY,
                request=request,
                target=f"{self.opts.label_lower} import preview",
                detail={"via": "admin import", "rows": result.total_rows},
            )
        return response

    def _shows_id_numbers(self) -> bool:
        return any(field.name == "id_number" for field in self.opts.get_fields())

    def process_result(self, result, request):
        totals = {key: value for key, value in result.totals.items() if value}
        audit_record(
            action=Action.UPLOAD_COMMITTED,
            request=request,
            target=self.opts.label_lower,
            detail={"via": "admin import", "totals": totals},
        )
        audit_records_written(actor=request.user, items=self._imported_records(result))
        return super().process_result(result, request)

    _IMPORT_ACTIONS = {"new": Action.RECORD_CREATE, "update": Action.RECORD_EDIT}

    def _imported_records(self, result):
        """A RECORD_CREATE / RECORD_EDIT / RECORD_DELETE entry per student record the import
        wrote, as the admin's own edits write them (edits with their masked changes)."""
        actions = {**self._IMPORT_ACTIONS, "delete": Action.RECORD_DELETE}
        for row in result.valid_rows():
            action = actions.get(row.import_type)
            record = self.audit_record_of(row.instance) if row.instance is not None else None
            if action is None or record is None or not getattr(record, "id_number", ""):
                continue
            stored = StoredRecord(
                record.pk or row.object_id, record.school_id, record.campus_id, record.id_number
            )
            detail = {"via": "admin import"}
            if action == Action.RECORD_EDIT and row.original is not None:
                original = self.audit_record_of(row.original)
                if original is not None and hasattr(original, "template_values"):
                    detail["changes"] = masked_changes(
                        original.template_values(), record.template_values()
                    )
            yield action, stored, detail
