from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from import_export import resources

from audit.admin import AuditedAdminMixin
from audit.services import Action
from confirmations.estimator import Rule, table_problems
from confirmations.models import (
    Application,
    BatchConfirmation,
    BenefitRule,
    CoverageRecord,
    InsuranceAccount,
    PolicyYear,
    Question,
    Reminder,
    SignedPledge,
)
from confirmations.status import statuses_refresh_for_applications
from enrollment.admin_formats import SafeImportExportModelAdmin


class BenefitRuleFormSet(BaseInlineFormSet):
    """The table as a whole must be one the estimator can read without guessing."""

    def clean(self) -> None:
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if any(form.errors for form in self.forms):
            return  # each line's own errors first
        rules = [
            Rule(
                visit_kind=line["visit_kind"],
                hospital_level=line["hospital_level"],
                deductible=line["deductible"],
                deductible_scope=line["deductible_scope"],
                fund_share=line["fund_share_percent"],
            )
            for line in kept
        ]
        problems = table_problems(rules)
        if problems:
            raise ValidationError(problems)


class BenefitRuleInline(admin.TabularInline):
    model = BenefitRule
    formset = BenefitRuleFormSet
    fields = [
        "visit_kind",
        "hospital_level",
        "deductible",
        "deductible_scope",
        "fund_share_percent",
        "note",
    ]
    extra = 0
    verbose_name_plural = "待遇表（就医政策）"


@admin.register(PolicyYear)
class PolicyYearAdmin(admin.ModelAdmin):
    list_display = ["enrollment_year", "city", "closing_date", "premium", "pledge_version"]
    readonly_fields = ["pledge_version"]
    inlines = [BenefitRuleInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "enrollment_year",
                    "city",
                    "closing_basis",
                    "closing_date",
                    "promised_minutes",
                ]
            },
        ),
        ("缴费", {"fields": ["current_year_premium", "premium"]}),
        ("待遇等待期", {"fields": ["waiting_fixed_months", "waiting_months_per_gap_year"]}),
        (
            "大病保险与零星报销",
            {
                "fields": [
                    "serious_illness_percent",
                    "serious_illness_low_income_percent",
                    "serious_illness_scope",
                    "claim_months",
                ]
            },
        ),
        ("承诺书", {"fields": ["pledge_text", "pledge_version"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "enrollment_year" in form.changed_data:
            # Its applications now count for another year's records ("done elsewhere").
            statuses_refresh_for_applications(applications=obj.applications.all())


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["question", "policy_year", "order", "is_published", "updated_at"]
    list_display_links = ["question"]
    list_editable = ["order", "is_published"]
    list_filter = ["policy_year", "is_published"]
    search_fields = ["question", "answer", "keywords"]
    fields = ["policy_year", "question", "answer", "source", "keywords", "order", "is_published"]


class CoverageRecordResource(resources.ModelResource):
    class Meta:
        model = CoverageRecord
        import_id_fields = ["id_number"]
        fields = ["id_number", "name", "kind", "gap_years"]


# No admin search by ID number (it would sit in the URL): search by name; city administrators
# find a person by ID number on the query page.
@admin.register(CoverageRecord)
class CoverageRecordAdmin(AuditedAdminMixin, SafeImportExportModelAdmin):
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

    @admin.display(description="所选人数")
    def total(self, batch: BatchConfirmation) -> int:
        return batch.total


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "school", "sent_by", "recipients", "state", "delivered_at"]

    @admin.display(description="发送状态")
    def state(self, reminder: Reminder) -> str:
        return reminder.delivery_state
