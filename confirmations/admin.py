from django.contrib import admin
from import_export import resources

from confirmations.models import (
    Application,
    BatchConfirmation,
    CoverageRecord,
    InsuranceAccount,
    PolicyYear,
    Reminder,
    SignedPledge,
)
from enrollment.admin_formats import SafeImportExportModelAdmin


@admin.register(PolicyYear)
class PolicyYearAdmin(admin.ModelAdmin):
    list_display = ["enrollment_year", "enrollment_period_opens", "premium", "pledge_version"]
    readonly_fields = ["pledge_version"]


class CoverageRecordResource(resources.ModelResource):
    class Meta:
        model = CoverageRecord
        import_id_fields = ["id_number"]
        fields = ["id_number", "name", "kind", "gap_years"]


@admin.register(CoverageRecord)
class CoverageRecordAdmin(SafeImportExportModelAdmin):
    resource_classes = [CoverageRecordResource]
    list_display = ["name", "kind", "gap_years"]
    list_filter = ["kind"]
    search_fields = ["=id_number", "name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["approval_number", "name", "state", "channel", "confirmed_by", "submitted_at"]
    list_filter = ["state", "channel", "policy_year"]
    search_fields = ["=approval_number", "=id_number", "name"]
    raw_id_fields = ["record"]


@admin.register(SignedPledge)
class SignedPledgeAdmin(ReadOnlyAdmin):
    list_display = ["application", "version", "signed_at", "channel"]
    exclude = ["signature_png"]


@admin.register(InsuranceAccount)
class InsuranceAccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "status", "converted_from", "created_at"]
    search_fields = ["=id_number", "name"]


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
