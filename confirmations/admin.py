from django.contrib import admin
from import_export import resources
from import_export.admin import ImportExportModelAdmin

from audit.admin import AuditedAdminMixin
from audit.services import Action
from confirmations.models import (
    Application,
    BatchConfirmation,
    CoverageRecord,
    InsuranceAccount,
    PolicyYear,
    Reminder,
    SignedPledge,
)


@admin.register(PolicyYear)
class PolicyYearAdmin(admin.ModelAdmin):
    list_display = ["enrollment_year", "enrollment_period_opens", "premium", "pledge_version"]
    readonly_fields = ["pledge_version"]


class CoverageRecordResource(resources.ModelResource):
    class Meta:
        model = CoverageRecord
        import_id_fields = ["id_number"]
        fields = ["id_number", "name", "kind", "gap_years"]


# No admin search by ID number (it would sit in the URL): search by name; city administrators
# find a person by ID number on the query page.
@admin.register(CoverageRecord)
class CoverageRecordAdmin(AuditedAdminMixin, ImportExportModelAdmin):
    resource_classes = [CoverageRecordResource]
    list_display = ["name", "kind", "gap_years"]
    list_filter = ["kind"]
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(AuditedAdminMixin, ReadOnlyAdmin):
    list_display = ["approval_number", "name", "state", "channel", "confirmed_by", "submitted_at"]
    list_filter = ["state", "channel", "policy_year"]
    search_fields = ["=approval_number", "name"]
    raw_id_fields = ["record"]

    def audit_record_of(self, obj):
        return obj.record


@admin.register(SignedPledge)
class SignedPledgeAdmin(AuditedAdminMixin, ReadOnlyAdmin):
    list_display = ["application", "version", "signed_at", "channel"]
    exclude = ["signature_png"]
    audit_view_action = Action.PLEDGE_VIEW

    def audit_record_of(self, obj):
        return obj.application.record


@admin.register(InsuranceAccount)
class InsuranceAccountAdmin(AuditedAdminMixin, ReadOnlyAdmin):
    list_display = ["name", "status", "converted_from", "created_at"]
    search_fields = ["name"]

    def audit_record_of(self, obj):
        return obj.application.record if obj.application_id else None


@admin.register(BatchConfirmation)
class BatchConfirmationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "created_by",
        "source",
        "total",
        "state",
        "paper_pledges_attested",
    ]
    list_filter = ["state"]
    exclude = ["record_ids"]


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "school", "sent_by", "recipients"]
