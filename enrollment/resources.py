"""The registration template declared for django-import-export: 18 text columns in order.

The admin's import and export use this Resource; so does the template download (its headers).
Imported rows are checked by `rules.validate_row`, like every other path into the roster.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets

from enrollment import rules
from enrollment.models import StudentRecord
from schools.models import Campus
from schools.scoping import campuses_fileable_by


class TemplateTextWidget(widgets.Widget):
    """Every template field is text (字符型): dates go out as YYYYMMDD, values in as they are."""

    def clean(self, value: object, row: dict | None = None, **kwargs: object) -> object:
        return value

    def render(self, value: object, obj: object = None, **kwargs: object) -> str:
        if value is None:
            return ""
        if isinstance(value, dt.date):
            return value.strftime("%Y%m%d")
        return str(value)


def _template_field(attribute: str) -> fields.Field:
    spec = rules.FIELD_BY_ATTRIBUTE[attribute]
    return fields.Field(attribute=attribute, column_name=spec.header, widget=TemplateTextWidget())


class StudentRecordResource(resources.ModelResource):
    name = _template_field("name")
    id_type = _template_field("id_type")
    id_number = _template_field("id_number")
    origin = _template_field("origin")
    birth_date = _template_field("birth_date")
    ethnicity = _template_field("ethnicity")
    sex = _template_field("sex")
    college = _template_field("college")
    major = _template_field("major")
    student_number = _template_field("student_number")
    education = _template_field("education")
    campus_code = _template_field("campus_code")
    registration_date = _template_field("registration_date")
    status = _template_field("status")
    address = _template_field("address")
    postcode = _template_field("postcode")
    phone = _template_field("phone")
    willingness = _template_field("willingness")

    class Meta:
        model = StudentRecord
        fields = tuple(spec.attribute for spec in rules.FIELDS)
        export_order = fields
        import_id_fields = ()
        skip_unchanged = True
        report_skipped = True

    def __init__(self, *, user=None, enrollment_year: int | None = None) -> None:
        super().__init__()
        self.user = user
        self.enrollment_year = enrollment_year or timezone.localdate().year

    # --- import: each row goes through the same rules as the upload ----------------------

    def _campus_for(self, row: dict) -> Campus | None:
        code = rules.normalize_text(row.get("总分校编码"))
        return Campus.objects.select_related("school").filter(code=code).first()

    def _outcome(self, row: dict, campus: Campus | None) -> rules.RowOutcome:
        raw = {spec.attribute: row.get(spec.header) for spec in rules.FIELDS}
        school_code = campus.school.code if campus else ""
        school_campuses = (
            frozenset(campus.school.campuses.values_list("code", flat=True))
            if campus
            else frozenset()
        )
        fileable = frozenset(campuses_fileable_by(self.user).values_list("code", flat=True))
        context = rules.RowContext(
            school_code=school_code,
            enrollment_year=self.enrollment_year,
            school_campuses=school_campuses,
            fileable_campuses=fileable,
            today=timezone.localdate(),
        )
        return rules.validate_row(raw, context)

    def get_instance(self, instance_loader, row: dict) -> StudentRecord | None:
        campus = self._campus_for(row)
        if campus is None:
            return None
        id_number = rules.normalize_id_number(row.get("证件号码"))
        return StudentRecord.objects.filter(
            school=campus.school, enrollment_year=self.enrollment_year, id_number=id_number
        ).first()

    def import_instance(self, instance: StudentRecord, row: dict, **kwargs: object) -> None:
        campus = self._campus_for(row)
        outcome = self._outcome(row, campus)
        if campus is None and not any(e.column == "总分校编码" for e in outcome.errors):
            outcome.errors.append(rules.FieldError("总分校编码", "总分校编码不是已登记的校区"))
        if outcome.errors:
            by_attribute = {spec.header: spec.attribute for spec in rules.FIELDS}
            raise ValidationError(
                {by_attribute[error.column]: error.message for error in outcome.errors}
            )
        for attribute, value in outcome.values.items():
            setattr(instance, attribute, value)
        instance.campus = campus
        instance.school = campus.school
        instance.enrollment_year = self.enrollment_year
        if instance.pk is None:
            instance.created_by = self.user
        instance.updated_by = self.user
