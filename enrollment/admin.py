from django.contrib import admin

from audit.admin import AuditedAdminMixin
from audit.services import Action, audit_entry, audit_record_many
from enrollment.admin_formats import ROSTER_FORMATS, SafeImportExportModelAdmin
from enrollment.models import HEAVY_UPLOAD_FIELDS, RosterUpload, StudentRecord
from enrollment.resources import StudentRecordResource
from enrollment.services import audit_record_save, record_statuses_refresh


@admin.register(StudentRecord)
class StudentRecordAdmin(AuditedAdminMixin, SafeImportExportModelAdmin):
    resource_classes = [StudentRecordResource]
    formats = ROSTER_FORMATS  # an .xlsx roster goes through the portal's roster reader
    list_display = [
        "name",
        "student_number",
        "school",
        "campus_code",
        "enrollment_year",
        "updated_at",
    ]
    list_filter = ["enrollment_year", "school"]
    # No search by ID number here: the admin searches by GET, and an ID number must never be in
    # a URL. City administrators find a person by ID number on the query page (/desk/query/).
    search_fields = ["name", "=student_number"]
    list_select_related = ["school"]
    raw_id_fields = ["campus"]
    readonly_fields = ["created_at", "updated_at", "created_by", "updated_by", "version"]

    def audit_record_of(self, obj):
        return obj

    def save_model(self, request, obj, form, change):
        stored = StudentRecord.objects.get(pk=obj.pk) if change else None
        before = stored.template_values() if stored else None
        super().save_model(request, obj, form, change)
        person = (stored.id_number, stored.enrollment_year) if stored else None
        record_statuses_refresh(before=person, record=obj)
        audit_record_save(user=request.user, record=obj, before=before)

    def delete_model(self, request, obj):
        self.delete_queryset(request, StudentRecord.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        audit_record_many(
            audit_entry(action=Action.RECORD_DELETE, request=request, record=record)
            for record in queryset
        )
        super().delete_queryset(request, queryset)

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {"user": request.user}

    def get_import_resource_kwargs(self, request, *args, **kwargs):
        return {"user": request.user}

    def get_export_resource_kwargs(self, request, *args, **kwargs):
        return {"user": request.user}


@admin.register(RosterUpload)
class RosterUploadAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "school",
        "file_name",
        "state",
        "rows_total",
        "rows_valid",
        "uploaded_by",
    ]
    list_filter = ["state"]
    exclude = ["content", "error_workbook"]
    readonly_fields = [
        f.name for f in RosterUpload._meta.fields if f.name not in ("content", "error_workbook")
    ]

    def get_queryset(self, request):
        # The list never loads files or results; the change page loads the bounded results.
        queryset = super().get_queryset(request).select_related("school", "uploaded_by")
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            return queryset.defer(*HEAVY_UPLOAD_FIELDS)
        return queryset.defer("content", "error_workbook")

    def has_add_permission(self, request):
        return False
