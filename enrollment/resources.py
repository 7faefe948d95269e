"""The registration template declared for django-import-export: 18 text columns in order.

The admin's import and export use this Resource; so does the template download (its headers).
Imported files are read by the portal's reader and checked by the upload's rules and messages.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import tablib
from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets

from enrollment import importer, rules
from enrollment.forms import current_enrollment_year
from enrollment.models import StudentRecord
from schools.models import Campus, School

ROW_NUMBER = "行号"  # the spreadsheet row of each imported row, kept beside the 18 columns
TEMPLATE_ATTRIBUTES = [spec.attribute for spec in rules.FIELDS]


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
        self._enrollment_year = enrollment_year
        self._errors: dict[int, dict[str, list[str]]] = {}
        self._campuses: dict[int, Campus] = {}
        self._contexts: dict[int, rules.RowContext] = {}
        self._saved_people: set[str] = set()

    @property
    def enrollment_year(self) -> int:
        # Asked on import only: the template download builds this Resource for its headers.
        if self._enrollment_year is None:
            self._enrollment_year = current_enrollment_year()
        return self._enrollment_year

    # --- import: the portal's reader, rules and messages -------------------------------------
    #
    # The whole file is checked before the first row is imported, as the upload's preview checks
    # it (`importer.check_rows`, one school at a time): duplicates within the file, records of
    # campuses out of scope, student numbers taken. Rows keep the spreadsheet's numbers (header =
    # row 1; `RosterXLSX` hands them over, other formats count from row 2), blank rows are not
    # rows, and errors are keyed by the template's Chinese column names.

    def before_import(self, dataset: tablib.Dataset, **kwargs: object) -> None:
        super().before_import(dataset, **kwargs)
        if dataset.headers and dataset.headers[-1] == ROW_NUMBER:
            numbers = dataset.get_col(len(dataset.headers) - 1)
            rows = [
                (number, dict(zip(TEMPLATE_ATTRIBUTES, values[:-1], strict=True)))
                for number, values in zip(numbers, dataset, strict=True)
            ]
        else:
            numbered = [(1, list(dataset.headers or []))]
            numbered += [(index, list(values)) for index, values in enumerate(dataset, start=2)]
            rows = list(importer.roster_rows(numbered).rows())
        self._check(rows)
        dataset.wipe()
        dataset.headers = [*rules.HEADERS, ROW_NUMBER]
        for number, values in rows:
            dataset.append([*(values.get(name) for name in TEMPLATE_ATTRIBUTES), number])

    def _check(self, rows: list[tuple[int, dict[str, object]]]) -> None:
        today = timezone.localdate()
        codes = {
            number: rules.normalize_cell("campus_code", raw.get("campus_code"))
            for number, raw in rows
        }
        campuses = {
            campus.code: campus
            for campus in Campus.objects.select_related("school").filter(
                code__in=set(codes.values())
            )
        }
        by_school: dict[School, list] = defaultdict(list)
        errors: list[rules.RowError] = []
        for number, raw in rows:
            campus = campuses.get(codes[number])
            if campus is None:
                errors += self._unplaced_errors(number, raw, codes[number], today)
                continue
            self._campuses[number] = campus
            by_school[campus.school].append((number, raw))
        for school, school_rows in by_school.items():
            context = importer.row_context(
                school=school, year=self.enrollment_year, user=self.user, today=today
            )
            for number, _ in school_rows:
                self._contexts[number] = context
            errors += importer.check_rows(
                school_rows, school=school, year=self.enrollment_year, user=self.user, today=today
            ).errors
        if len(by_school) > 1:  # one person under two schools in one file
            errors += rules.duplicate_errors(
                ((n, rules.normalize_id_number(raw.get("id_number"))) for n, raw in rows),
                column="证件号码",
                what="证件号码",
            )
        self._errors = {}
        for error in errors:
            messages = self._errors.setdefault(error.row, {}).setdefault(error.column, [])
            if not messages:  # one message per column, as the preview shows
                messages.append(error.message)

    def _unplaced_errors(
        self, number: int, raw: dict[str, object], code: str, today: dt.date
    ) -> list[rules.RowError]:
        """A row whose campus code names no campus: its other problems, and that one."""
        context = rules.RowContext(
            school_code=code[:4],
            enrollment_year=self.enrollment_year,
            school_campuses=frozenset(),
            fileable_campuses=frozenset(),
            today=today,
        )
        return [
            rules.RowError(number, error.column, error.message)
            for error in rules.validate_row(raw, context).errors
        ]

    def get_instance(self, instance_loader, row: dict) -> StudentRecord | None:
        campus = self._campuses.get(row[ROW_NUMBER])
        if campus is None:
            return None
        id_number = rules.normalize_id_number(row.get("证件号码"))
        return StudentRecord.objects.filter(
            school=campus.school, enrollment_year=self.enrollment_year, id_number=id_number
        ).first()

    def import_instance(self, instance: StudentRecord, row: dict, **kwargs: object) -> None:
        number = row[ROW_NUMBER]
        if number in self._errors:
            raise ValidationError(self._errors[number])
        campus = self._campuses[number]
        raw = {spec.attribute: row.get(spec.header) for spec in rules.FIELDS}
        outcome = rules.validate_row(raw, self._contexts[number])
        for attribute, value in outcome.values.items():
            setattr(instance, attribute, value)
        instance.campus = campus
        instance.school = campus.school
        instance.enrollment_year = self.enrollment_year
        if instance.pk is None:
            instance.created_by = self.user
        instance.updated_by = self.user

    def after_save_instance(self, instance: StudentRecord, row: dict, **kwargs: object) -> None:
        super().after_save_instance(instance, row, **kwargs)
        self._saved_people.add(instance.id_number)

    def after_import(self, dataset: tablib.Dataset, result: object, **kwargs: object) -> None:
        """Store the status of the records saved (a person who applied through another school
        is "done elsewhere"), in the import's transaction; give rows their spreadsheet numbers,
        and show the 18 columns without the number."""
        super().after_import(dataset, result, **kwargs)
        # Imported here: confirmations builds on enrollment, not the other way round. An
        # existing record keeps its (school, year, ID number) here, and with them its status.
        from confirmations.status import statuses_refresh_for_new_records

        statuses_refresh_for_new_records(id_numbers=self._saved_people)
        numbers = dataset.get_col(len(dataset.headers) - 1) if len(dataset) else []
        for invalid in result.invalid_rows:
            invalid.number = numbers[invalid.number - 1]
            invalid.values = tuple(invalid.values)[: len(rules.HEADERS)]
        for error_row in result.error_rows:
            error_row.number = numbers[error_row.number - 1]
