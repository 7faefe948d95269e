from __future__ import annotations

from django import forms
from django.apps import apps
from django.core import signing
from django.utils import timezone

from enrollment import rules, spreadsheets
from schools.models import Campus, School


def current_enrollment_year() -> int:
    """The enrollment year filers work on: the open policy year's (its window can run into
    January), else the latest year whose registrations have begun (1 August)."""
    policy_year = apps.get_model("confirmations", "PolicyYear").current()  # no upward import
    if policy_year is not None:
        return policy_year.enrollment_year
    today = timezone.localdate()
    return today.year if today.month >= 8 else today.year - 1


def year_choices() -> list[tuple[int, str]]:
    year = current_enrollment_year()
    return [(y, f"{y} 年") for y in (year, year - 1)]


class RosterUploadForm(forms.Form):
    school = forms.ModelChoiceField(
        label="院校",
        queryset=School.objects.none(),
        empty_label="请选择院校",
        error_messages={"required": "请先选择要申报的院校", "invalid_choice": "您不能为该院校申报"},
    )
    year = forms.TypedChoiceField(label="入学年度", coerce=int, choices=())
    file = forms.FileField(
        label="名单文件（.xlsx）",
        error_messages={"required": "请选择要上传的名单文件", "empty": "文件是空的"},
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )

    def __init__(self, *args: object, schools: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools
        only = list(schools[:2])
        if len(only) == 1:  # a filer of one school does not have to pick it
            self.fields["school"].initial = only[0].pk
        self.fields["year"].choices = year_choices()
        self.fields["year"].initial = current_enrollment_year()

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        try:
            spreadsheets.check_file_size(upload.size)
        except spreadsheets.SpreadsheetRefused as refused:
            raise forms.ValidationError(refused.message) from refused
        return upload


_OPENED_SALT = "enrollment.record-form.opened"


class StudentRecordForm(forms.Form):
    """The 18 template fields as text inputs; `rules.validate_row` does the checking."""

    def __init__(self, *args: object, campus_codes: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for spec in rules.FIELDS:
            if spec.codes:
                field = forms.ChoiceField(
                    label=spec.header,
                    choices=[("", "请选择")]
                    + [(code, f"{code} {label}") for code, label in spec.codes.items()],
                    required=False,
                )
            elif spec.attribute == "campus_code":
                field = forms.ChoiceField(
                    label=spec.header,
                    choices=[("", "请选择")] + [(code, code) for code in campus_codes],
                    required=False,
                    initial=campus_codes[0] if len(campus_codes) == 1 else None,
                )
            else:
                field = forms.CharField(
                    label=spec.header,
                    required=False,
                    max_length=spec.width + 10,  # rules give the friendlier width message
                    help_text=spec.note,
                )
                if spec.attribute in rules.DATE_ATTRIBUTES:
                    field.widget.attrs["placeholder"] = "YYYYMMDD"
            self.fields[spec.attribute] = field
        # An edit carries the version it shows and the values it showed (signed): a save over
        # a change made since is refused with what changed (services.record_save).
        self.fields["version"] = forms.IntegerField(widget=forms.HiddenInput, required=False)
        self.fields["opened"] = forms.CharField(widget=forms.HiddenInput, required=False)

    @staticmethod
    def opened_initial(version: int, values: dict[str, str]) -> dict[str, object]:
        return {"version": version, "opened": signing.dumps(values, salt=_OPENED_SALT)}

    def seen(self) -> tuple[int | None, dict[str, str]]:
        """The version and values the form showed when opened (cleaned data only)."""
        try:
            values = signing.loads(self.cleaned_data.get("opened") or "", salt=_OPENED_SALT)
        except signing.BadSignature:
            values = {}
        return self.cleaned_data.get("version"), values if isinstance(values, dict) else {}

    def template_data(self) -> dict[str, object]:
        """The 18 fields as entered, for `rules.validate_row`."""
        return {spec.attribute: self.cleaned_data.get(spec.attribute) for spec in rules.FIELDS}

    def show_current(self, version: int, values: dict[str, str]) -> None:
        """After a refused save: the next save applies the entered values over `version`."""
        self.data = self.data.copy()
        for name, value in self.opened_initial(version, values).items():
            self.data[name] = value

    def add_rule_errors(self, errors: list[rules.FieldError]) -> None:
        by_header = {spec.header: spec.attribute for spec in rules.FIELDS}
        for error in errors:
            attribute = by_header[error.column]
            message = error.message
            if isinstance(self.fields[attribute], forms.ChoiceField) and message == (
                rules.required_message(error.column)
            ):
                message = f"请选择{error.column}"  # a drop-down is chosen, not filled in
            self.add_error(attribute, message)


class RecordSearchForm(forms.Form):
    q = forms.CharField(label="搜索", required=False, max_length=50)
    school = forms.ModelChoiceField(
        label="院校", queryset=School.objects.none(), required=False, empty_label="全部院校"
    )
    year = forms.TypedChoiceField(label="入学年度", coerce=int, choices=(), required=False)
    no_mobile = forms.BooleanField(label="只看收不到验证码的记录（座机号码）", required=False)
    campus = forms.ModelChoiceField(
        label="校区", queryset=Campus.objects.none(), required=False, empty_label="全部校区"
    )

    def __init__(
        self, *args: object, schools: object, campuses: object = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].queryset = schools
        if campuses is not None:
            self.fields["campus"].queryset = campuses
        self.fields["campus"].label_from_instance = lambda campus: f"{campus.code} {campus.name}"
        self.fields["year"].choices = year_choices()
