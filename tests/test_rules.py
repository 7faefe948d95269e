"""Unit tests of the 18-field template rules (domain.md §3) in enrollment/rules.py.

These are pure functions: no database, no HTTP. Each test starts from one valid demo row and
changes one field.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from enrollment import rules
from enrollment.demo import demo_rows, make_id_number
from enrollment.masking import mask_id_number, mask_name, mask_phone

YEAR = 2026
SCHOOL = "1012"
CAMPUSES = frozenset({"101200", "101201"})
ATTRIBUTE_BY_HEADER = {spec.header: spec.attribute for spec in rules.FIELDS}
HEADER_BY_ATTRIBUTE = {spec.attribute: spec.header for spec in rules.FIELDS}
REQUIRED_ATTRIBUTES = tuple(spec.attribute for spec in rules.FIELDS)
# Seed 05 Q11: Hangzhou writes travel permits HKG0…, MAC0…, TWN0… (a city's setting).
HANGZHOU_PREFIXES = {"3": ("HKG0", "MAC0"), "6": ("TWN0",)}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ACTIONABLE = ("请", "应为", "只能", "例如")


# --- helpers ---------------------------------------------------------------------------------


def demo_row() -> dict[str, object]:
    """The first demo row of school 1012, keyed by attribute name."""
    row = demo_rows(1, school_code=SCHOOL, campus_codes=["101200", "101201"], year=YEAR)[0]
    return {ATTRIBUTE_BY_HEADER[header]: value for header, value in row.items()}


def make_context(**overrides) -> rules.RowContext:
    values = {
        "school_code": SCHOOL,
        "enrollment_year": YEAR,
        "school_campuses": CAMPUSES,
        "fileable_campuses": CAMPUSES,
        "today": dt.date(YEAR, 11, 27),
    }
    values.update(overrides)
    return rules.RowContext(**values)


def validate(context: rules.RowContext | None = None, **overrides) -> rules.RowOutcome:
    row = demo_row()
    row.update(overrides)
    return rules.validate_row(row, context or make_context())


def errors_of(outcome: rules.RowOutcome) -> dict[str, str]:
    """Errors keyed by column header (at most one per column)."""
    errors = {error.column: error.message for error in outcome.errors}
    assert len(errors) == len(outcome.errors), "more than one error for a column"
    return errors


def assert_actionable_chinese(message: str) -> None:
    assert _CJK.search(message), f"not Chinese: {message!r}"
    assert any(hint in message for hint in _ACTIONABLE), f"says not how to fix: {message!r}"


def assert_only_error(outcome: rules.RowOutcome, header: str) -> str:
    """The row has exactly one error, on `header`, in actionable Chinese; returns its message."""
    errors = errors_of(outcome)
    assert list(errors) == [header], errors
    assert_actionable_chinese(errors[header])
    return errors[header]


def assert_error_on(outcome: rules.RowOutcome, header: str) -> str:
    """The row has an error on `header` (maybe others too); returns its message."""
    errors = errors_of(outcome)
    assert header in errors, errors
    assert_actionable_chinese(errors[header])
    return errors[header]


def assert_valid(outcome: rules.RowOutcome) -> None:
    assert outcome.errors == [], errors_of(outcome)
    assert outcome.is_valid


def full_width(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def resident_id(birth: dt.date, *, male: bool, region: str = "310104", sequence: int = 7) -> str:
    return make_id_number(region, birth, sequence, male=male)


def resident_id_ending_in_digit(birth: dt.date, *, male: bool) -> str:
    """A valid resident ID with a digit as check character, so it can also become a number."""
    for sequence in range(500):
        id_number = resident_id(birth, male=male, sequence=sequence)
        if id_number[-1].isdigit():
            return id_number
    raise AssertionError("no ID ending in a digit found")


def resident_id_ending_in_x(birth: dt.date) -> tuple[str, str]:
    """A valid resident ID whose check character is X, and the sex code it implies."""
    for sequence in range(500):
        for male in (True, False):
            id_number = resident_id(birth, male=male, sequence=sequence)
            if id_number.endswith("X"):
                return id_number, "1" if male else "2"
    raise AssertionError("no ID ending in X found")


def with_wrong_check_character(id_number: str) -> str:
    right = id_number[17]
    wrong = next(char for char in "0123456789X" if char != right)
    return id_number[:17] + wrong


BIRTH = dt.date(2008, 3, 5)
MALE_ID = resident_id_ending_in_digit(BIRTH, male=True)
FEMALE_ID = resident_id_ending_in_digit(BIRTH, male=False)
HK_RESIDENCE_PERMIT = make_id_number("810000", BIRTH, 1, male=True)


def person(id_number: str, *, birth: object = "20080305", sex: str = "1", id_type: str = "1"):
    """Overrides for the identity columns of a row, kept consistent unless a test says not."""
    return {"id_type": id_type, "id_number": id_number, "birth_date": birth, "sex": sex}


# --- the valid row ---------------------------------------------------------------------------


def test_valid_demo_row_has_no_errors():
    assert_valid(validate())


def test_cleaned_values_are_text_except_the_two_dates():
    outcome = validate()
    for attribute, value in outcome.values.items():
        if attribute in rules.DATE_ATTRIBUTES:
            assert type(value) is dt.date, attribute
        else:
            assert isinstance(value, str), attribute
    assert set(outcome.values) == {spec.attribute for spec in rules.FIELDS}


def test_cleaned_dates_equal_the_yyyymmdd_text():
    row = demo_row()
    outcome = rules.validate_row(row, make_context())
    assert f"{outcome.values['birth_date']:%Y%m%d}" == row["birth_date"]
    assert f"{outcome.values['registration_date']:%Y%m%d}" == row["registration_date"]


def test_consistent_crafted_person_is_valid():
    assert_valid(validate(**person(MALE_ID)))
    assert_valid(validate(**person(FEMALE_ID, sex="2")))


# --- required and optional fields -------------------------------------------------------------


@pytest.mark.parametrize("attribute", REQUIRED_ATTRIBUTES)
@pytest.mark.parametrize(
    "empty", ["", None, "   ", "\u3000"], ids=["empty", "none", "spaces", "ideographic-space"]
)
def test_rejects_empty_required_field(attribute, empty):
    header = HEADER_BY_ATTRIBUTE[attribute]
    message = assert_error_on(validate(**{attribute: empty}), header)
    assert "不能为空" in message
    assert header in message


def test_rejects_missing_required_key():
    row = demo_row()
    del row["name"]
    message = assert_only_error(rules.validate_row(row, make_context()), "姓名")
    assert "不能为空" in message


@pytest.mark.parametrize("attribute", ["address", "postcode"])
def test_address_and_postcode_are_required_as_seed_01_lists_them_among_the_fields_to_upload(
    attribute,
):
    assert rules.FIELD_BY_ATTRIBUTE[attribute].required
    message = assert_only_error(validate(**{attribute: ""}), HEADER_BY_ATTRIBUTE[attribute])
    assert "不能为空" in message


# --- widths ----------------------------------------------------------------------------------


def test_rejects_name_of_31_characters():
    message = assert_only_error(validate(name="王" * 31), "姓名")
    assert "30" in message and "31" in message


def test_accepts_name_of_30_characters():
    assert_valid(validate(name="王" * 30))


@pytest.mark.parametrize(
    ("attribute", "width"),
    [
        ("origin", 50),
        ("ethnicity", 20),
        ("college", 50),
        ("major", 50),
        ("student_number", 20),
        ("address", 100),
    ],
)
def test_rejects_text_longer_than_its_width(attribute, width):
    assert rules.FIELD_BY_ATTRIBUTE[attribute].width == width
    header = HEADER_BY_ATTRIBUTE[attribute]
    message = assert_only_error(validate(**{attribute: "A" * (width + 1)}), header)
    assert str(width) in message


@pytest.mark.parametrize(
    ("attribute", "width"),
    [("origin", 50), ("ethnicity", 20), ("college", 50), ("major", 50), ("address", 100)],
)
def test_accepts_text_exactly_at_its_width(attribute, width):
    assert_valid(validate(**{attribute: "汉" * width}))


def test_rejects_phone_longer_than_20_characters():
    message = assert_only_error(validate(phone="+44-2012345678901234567"), "联系电话")
    assert "20" in message


def test_width_counts_characters_after_trimming_spaces():
    assert_valid(validate(name="  " + "王" * 30 + "  "))


# --- code lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "bad"),
    [("id_type", "8"), ("sex", "3"), ("education", "5"), ("status", "04"), ("willingness", "2")],
)
def test_rejects_value_outside_code_list(attribute, bad):
    header = HEADER_BY_ATTRIBUTE[attribute]
    message = assert_error_on(validate(**{attribute: bad}), header)
    assert "只能填代码" in message


@pytest.mark.parametrize(
    ("attribute", "listed"),
    [
        ("id_type", "1 居民身份证"),
        ("sex", "2 女"),
        ("education", "4 研究生"),
        ("status", "10 保留入学资格"),
        ("willingness", "0 不参加"),
    ],
)
def test_code_list_message_names_the_allowed_codes(attribute, listed):
    bad = {"id_type": "8", "sex": "3", "education": "5", "status": "04", "willingness": "2"}
    message = errors_of(validate(**{attribute: bad[attribute]}))[HEADER_BY_ATTRIBUTE[attribute]]
    assert listed in message


def test_rejects_id_type_8_without_checking_the_id_number():
    errors = errors_of(validate(id_type="8"))
    assert "证件类型" in errors
    assert "证件号码" not in errors


@pytest.mark.parametrize("education", ["1", "2", "3", "4"])
def test_accepts_every_education_code(education):
    assert_valid(validate(education=education))


@pytest.mark.parametrize("status", ["00", "01", "02", "03", "10"])
def test_accepts_every_status_code(status):
    assert_valid(validate(status=status))


@pytest.mark.parametrize("willingness", ["0", "1"])
def test_accepts_both_willingness_codes(willingness):
    assert_valid(validate(willingness=willingness))


def test_code_lists_match_domain_brief():
    assert set(rules.ID_TYPES) == {"1", "2", "3", "4", "5", "6", "7", "9"}
    assert set(rules.SEXES) == {"1", "2"}
    assert set(rules.EDUCATIONS) == {"1", "2", "3", "4"}
    assert set(rules.STATUSES) == {"00", "01", "02", "03", "10"}
    assert set(rules.WILLINGNESS) == {"0", "1"}


def test_template_has_the_18_headers_in_order():
    assert rules.HEADERS == (
        "姓名", "证件类型", "证件号码", "原户籍地", "出生日期", "民族", "性别", "学院", "专业",
        "学号", "学历", "总分校编码", "报到注册日期", "状态", "联系地址", "联系邮编", "联系电话",
        "参保意愿",
    )  # fmt: skip


# --- ID type 1: resident identity card --------------------------------------------------------


@pytest.mark.parametrize("length", [17, 19])
def test_rejects_resident_id_with_wrong_length(length):
    id_number = (MALE_ID + "1")[:length]
    message = assert_error_on(validate(**person(id_number)), "证件号码")
    assert "18 位" in message


def test_rejects_resident_id_with_letters_inside():
    id_number = MALE_ID[:8] + "AB" + MALE_ID[10:]
    message = assert_error_on(validate(**person(id_number)), "证件号码")
    assert "数字" in message


def test_rejects_resident_id_with_wrong_check_character():
    message = assert_only_error(validate(**person(with_wrong_check_character(MALE_ID))), "证件号码")
    assert "校验位" in message


def test_rejects_resident_id_with_swapped_digits():
    swapped = MALE_ID[:2] + MALE_ID[3] + MALE_ID[2] + MALE_ID[4:]  # 310104… → 311004…
    assert swapped != MALE_ID
    assert_only_error(validate(**person(swapped)), "证件号码")


def test_accepts_resident_id_with_upper_case_x_check_character():
    id_number, sex = resident_id_ending_in_x(BIRTH)
    assert_valid(validate(**person(id_number, sex=sex)))


def test_normalises_lower_case_x_check_character_to_upper_case():
    id_number, sex = resident_id_ending_in_x(BIRTH)
    outcome = validate(**person(id_number.lower(), sex=sex))
    assert_valid(outcome)
    assert outcome.values["id_number"] == id_number


def test_rejects_resident_id_with_invalid_embedded_birth_date():
    first_17 = "31010420070230001"  # 30 February 2007
    id_number = first_17 + rules.id_check_character(first_17)
    message = assert_error_on(validate(**person(id_number, birth="20070228")), "证件号码")
    assert "出生日期" in message


def test_rejects_resident_id_with_x_before_the_last_character():
    id_number = "X" + MALE_ID[1:]
    assert_error_on(validate(**person(id_number)), "证件号码")


# --- ID type 7: residence permit for Hong Kong, Macao and Taiwan residents ---------------------


@pytest.mark.parametrize("prefix", ["810000", "820000", "830000"])
def test_accepts_residence_permit_with_hk_macao_taiwan_prefix(prefix):
    id_number = make_id_number(prefix, BIRTH, 3, male=False)
    assert_valid(validate(**person(id_number, sex="2", id_type="7"), origin="香港"))


def test_rejects_residence_permit_not_starting_with_81_82_83():
    message = assert_only_error(validate(**person(MALE_ID, id_type="7")), "证件号码")
    assert "81" in message and "82" in message and "83" in message


def test_rejects_residence_permit_with_wrong_check_character():
    id_number = with_wrong_check_character(HK_RESIDENCE_PERMIT)
    message = assert_only_error(validate(**person(id_number, id_type="7")), "证件号码")
    assert "校验位" in message


def test_rejects_residence_permit_with_wrong_length():
    message = assert_error_on(validate(**person(HK_RESIDENCE_PERMIT[:17], id_type="7")), "证件号码")
    assert "18 位" in message


def test_rejects_residence_permit_birth_date_differing_from_id():
    outcome = validate(**person(HK_RESIDENCE_PERMIT, birth="20080306", id_type="7"))
    message = assert_only_error(outcome, "出生日期")
    assert "不一致" in message


def test_rejects_residence_permit_sex_differing_from_17th_digit():
    outcome = validate(**person(HK_RESIDENCE_PERMIT, sex="2", id_type="7"))
    assert_only_error(outcome, "性别")


# --- ID type 2: passport ---------------------------------------------------------------------


@pytest.mark.parametrize("passport", ["CHN0E12345678", "ZZZ0E12345678", "CHN0123456789"])
def test_accepts_passport_with_country_code_and_zero(passport):
    outcome = validate(**person(passport, id_type="2"), origin="本市")
    assert_valid(outcome)
    assert outcome.values["id_number"] == passport


def test_normalises_lower_case_passport_to_upper_case():
    outcome = validate(**person("chn0e12345678", id_type="2"))
    assert_valid(outcome)
    assert outcome.values["id_number"] == "CHN0E12345678"


@pytest.mark.parametrize("passport", ["CHN0E1234(5)", "CHN0E1234（5）"])
def test_accepts_half_width_brackets_in_passport_numbers_and_converts_full_width_ones(passport):
    outcome = validate(**person(passport, id_type="2"))
    assert_valid(outcome)
    assert outcome.values["id_number"] == "CHN0E1234(5)"


@pytest.mark.parametrize("passport", ["USA0E12345678", "GBR0123456789", "JPN0TK1234567"])
def test_foreign_student_with_a_non_chn_passport_is_refused_at_upload_with_the_reason(passport):
    message = assert_only_error(validate(**person(passport, id_type="2")), "证件号码")
    assert "外国留学生" in message and passport[:3] in message


def test_passport_of_unknown_nationality_zzz_is_not_taken_for_a_foreign_student():
    assert rules.ineligibility("2", "ZZZ0E12345678") is None
    assert rules.ineligibility("2", "CHN0E12345678") is None
    assert rules.ineligibility("1", MALE_ID) is None


def test_rejects_passport_without_zero_after_country_code():
    message = assert_only_error(validate(**person("USAE12345678", id_type="2")), "证件号码")
    assert "ZZZ" in message


@pytest.mark.parametrize("passport", ["US0E12345678", "1230E1234567", "USA0E1-2345"])
def test_rejects_passport_with_malformed_country_code_or_characters(passport):
    assert_only_error(validate(**person(passport, id_type="2")), "证件号码")


def test_passport_birth_date_is_not_compared_with_the_number():
    assert_valid(validate(**person("CHN0E12345678", birth="20071111", sex="2", id_type="2")))


def test_passport_sex_is_not_compared_with_the_number():
    assert_valid(validate(**person("CHN0E12345671", sex="2", id_type="2")))


# --- ID types 3, 4 and 6: travel permits (a city's format) --------------------------------------


@pytest.mark.parametrize(
    ("permit", "id_type"), [("H12345678", "3"), ("M1234567(8)", "3"), ("12345678", "6")]
)
def test_shanghai_requires_no_hangzhou_prefix_on_travel_permits(permit, id_type):
    assert_valid(validate(**person(permit, id_type=id_type), origin="香港"))


@pytest.mark.parametrize("permit", ["HKG0H12345678", "MAC0M12345678"])
def test_city_with_permit_prefixes_accepts_hkg0_or_mac0(permit):
    context = make_context(permit_prefixes=HANGZHOU_PREFIXES)
    assert_valid(validate(context, **person(permit, id_type="3"), origin="香港"))


@pytest.mark.parametrize("permit", ["TWN012345678", "USA0H12345678", "HKGH12345678"])
def test_city_with_permit_prefixes_rejects_another_prefix(permit):
    context = make_context(permit_prefixes=HANGZHOU_PREFIXES)
    message = assert_only_error(validate(context, **person(permit, id_type="3")), "证件号码")
    assert "HKG0" in message


def test_city_with_permit_prefixes_accepts_taiwan_permit_with_twn0():
    context = make_context(permit_prefixes=HANGZHOU_PREFIXES)
    assert_valid(validate(context, **person("TWN012345678", id_type="6"), origin="台湾"))


def test_city_with_permit_prefixes_rejects_taiwan_permit_with_another_prefix():
    context = make_context(permit_prefixes=HANGZHOU_PREFIXES)
    message = assert_only_error(
        validate(context, **person("HKG0H12345678", id_type="6")), "证件号码"
    )
    assert "TWN0" in message


def test_normalises_full_width_brackets_in_permit():
    outcome = validate(**person("H123456（7）", id_type="3"))
    assert_valid(outcome)
    assert outcome.values["id_number"] == "H123456(7)"


def test_numeric_cell_holding_a_short_document_number_is_kept_exactly():
    outcome = validate(**person(12345678, id_type="6"), origin="台湾")
    assert_valid(outcome)
    assert outcome.values["id_number"] == "12345678"


# --- IDs mangled by Excel ---------------------------------------------------------------------


@pytest.mark.parametrize("cell", [3.101042007e17, 310104200803050071], ids=["float", "int"])
def test_rejects_id_number_given_as_numeric_cell(cell):
    message = assert_error_on(validate(id_number=cell), "证件号码")
    assert "文本" in message


def test_rejects_numeric_id_cell_even_when_its_digits_are_a_valid_id():
    outcome = validate(**person(int(MALE_ID)))
    message = assert_only_error(outcome, "证件号码")
    assert "文本" in message


@pytest.mark.parametrize("text", ["3.10104E+17", "3.10104e+17", "3.10104E17"])
def test_rejects_id_number_in_scientific_notation_text(text):
    message = assert_only_error(validate(id_number=text), "证件号码")
    assert "科学计数法" in message
    assert "文本" in message


def test_rejects_scientific_notation_text_for_passport_type_too():
    message = assert_only_error(validate(**person("3.10104E+17", id_type="2")), "证件号码")
    assert "科学计数法" in message


def test_normalises_full_width_digits_in_id_number():
    outcome = validate(**person(full_width(MALE_ID)))
    assert_valid(outcome)
    assert outcome.values["id_number"] == MALE_ID


def test_normalises_full_width_x_in_id_number():
    id_number, sex = resident_id_ending_in_x(BIRTH)
    outcome = validate(**person(full_width(id_number.lower()), sex=sex))
    assert_valid(outcome)
    assert outcome.values["id_number"] == id_number


def test_strips_spaces_around_and_inside_id_number():
    spaced = f" \u3000{MALE_ID[:6]} {MALE_ID[6:14]}\u00a0{MALE_ID[14:]}\t "
    outcome = validate(**person(spaced))
    assert_valid(outcome)
    assert outcome.values["id_number"] == MALE_ID


def test_removes_zero_width_characters_from_id_number():
    outcome = validate(**person("\ufeff" + MALE_ID[:9] + "\u200b" + MALE_ID[9:]))
    assert_valid(outcome)
    assert outcome.values["id_number"] == MALE_ID


# --- birth date ------------------------------------------------------------------------------


def test_rejects_resident_birth_date_differing_from_id():
    message = assert_only_error(validate(**person(MALE_ID, birth="20080306")), "出生日期")
    assert "不一致" in message


def test_accepts_birth_date_as_date_cell():
    outcome = validate(**person(MALE_ID, birth=BIRTH))
    assert_valid(outcome)
    assert outcome.values["birth_date"] == BIRTH


def test_accepts_birth_date_as_datetime_cell():
    outcome = validate(**person(MALE_ID, birth=dt.datetime(2008, 3, 5, 0, 0)))
    assert_valid(outcome)
    assert outcome.values["birth_date"] == BIRTH


@pytest.mark.parametrize("text", ["2008-03-05", "2008/3/5", "2008.3.5", "2008年3月5日"])
def test_accepts_birth_date_as_separated_text(text):
    outcome = validate(**person(MALE_ID, birth=text))
    assert_valid(outcome)
    assert outcome.values["birth_date"] == BIRTH


def test_accepts_birth_date_as_numeric_cell():
    assert_valid(validate(**person(MALE_ID, birth=20080305)))


def test_date_cells_normalise_to_yyyymmdd_text():
    assert rules.normalize_text(BIRTH) == "20080305"
    assert rules.normalize_text(dt.datetime(2008, 3, 5, 13, 45)) == "20080305"


def test_separated_date_text_compares_with_the_id_as_yyyymmdd():
    # 2008-03-06 normalises to 20080306, which is not the ID's date: the comparison is real.
    assert_only_error(validate(**person(MALE_ID, birth="2008-03-06")), "出生日期")


@pytest.mark.parametrize("text", ["20080230", "2008035", "05032008", "birthday"])
def test_rejects_birth_date_that_is_not_a_real_yyyymmdd_date(text):
    outcome = validate(**person("CHN0E12345678", birth=text, id_type="2"))
    message = assert_error_on(outcome, "出生日期")
    assert "YYYYMMDD" in message


def test_rejects_birth_date_after_today():
    outcome = validate(**person("CHN0E12345678", birth="20261128", id_type="2"))
    assert_only_error(outcome, "出生日期")


def test_rejects_birth_date_before_1900():
    outcome = validate(**person("CHN0E12345678", birth="18991231", id_type="2"))
    assert_only_error(outcome, "出生日期")


# --- sex -------------------------------------------------------------------------------------


def test_rejects_female_sex_with_odd_17th_digit():
    assert int(MALE_ID[16]) % 2 == 1
    message = assert_only_error(validate(**person(MALE_ID, sex="2")), "性别")
    assert "第 17 位" in message


def test_rejects_male_sex_with_even_17th_digit():
    assert int(FEMALE_ID[16]) % 2 == 0
    assert_only_error(validate(**person(FEMALE_ID, sex="1")), "性别")


def test_accepts_female_sex_with_even_17th_digit():
    assert_valid(validate(**person(FEMALE_ID, sex="2")))


# --- registration date -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "20260801",
        "20261231",
        dt.date(2026, 9, 1),
        dt.datetime(2026, 9, 1, 8, 30),
        "2026/9/1",
        "2026-09-01",
        "2026/9/1 0:00:00",
        20260901,
    ],
    ids=str,
)
def test_accepts_registration_date_inside_window(value):
    assert_valid(validate(registration_date=value))


@pytest.mark.parametrize(
    "value", ["20260731", "20270101", "20250901", dt.date(2026, 7, 31)], ids=str
)
def test_rejects_registration_date_outside_window(value):
    message = assert_only_error(validate(registration_date=value), "报到注册日期")
    assert "20260801" in message and "20261231" in message


def test_registration_window_follows_the_enrollment_year():
    context = make_context(enrollment_year=2027, today=dt.date(2027, 11, 27))
    assert_valid(validate(context, registration_date="20270801"))
    assert_only_error(validate(context, registration_date="20260901"), "报到注册日期")


def test_cleaned_registration_date_is_a_date():
    outcome = validate(registration_date="2026/9/1")
    assert outcome.values["registration_date"] == dt.date(2026, 9, 1)


def test_rejects_registration_date_that_is_not_a_real_date():
    message = assert_only_error(validate(registration_date="20260931"), "报到注册日期")
    assert "YYYYMMDD" in message


# --- status, student number, postcode ---------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.0, "0", "0.0"], ids=repr)
def test_status_zero_becomes_00(value):
    outcome = validate(status=value)
    assert_valid(outcome)
    assert outcome.values["status"] == "00"


def test_status_1_becomes_01():
    outcome = validate(status=1)
    assert_valid(outcome)
    assert outcome.values["status"] == "01"


def test_status_10_keeps_both_digits():
    outcome = validate(status=10)
    assert_valid(outcome)
    assert outcome.values["status"] == "10"


@pytest.mark.parametrize("value", ["12345.0", 12345.0, 12345, " 12345 "], ids=repr)
def test_student_number_loses_float_suffix(value):
    outcome = validate(student_number=value)
    assert_valid(outcome)
    assert outcome.values["student_number"] == "12345"


def test_student_number_keeps_letters_and_leading_zeros_in_text():
    outcome = validate(student_number="S0012345")
    assert_valid(outcome)
    assert outcome.values["student_number"] == "S0012345"


@pytest.mark.parametrize("value", [20240, 20240.0], ids=repr)
def test_numeric_postcode_gets_its_leading_zero_back(value):
    outcome = validate(postcode=value)
    assert_valid(outcome)
    assert outcome.values["postcode"] == "020240"


def test_rejects_seven_digit_postcode():
    assert_only_error(validate(postcode="2002401"), "联系邮编")


@pytest.mark.parametrize("value", ["20024", "20024A", "200 40"])
def test_rejects_postcode_that_is_not_six_digits(value):
    message = assert_only_error(validate(postcode=value), "联系邮编")
    assert "6 位数字" in message


# --- phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["13912345678", 13912345678, 13912345678.0, " 139 1234 5678 "])
def test_accepts_mobile_phone(phone):
    outcome = validate(phone=phone)
    assert_valid(outcome)
    assert outcome.values["phone"] == "13912345678"


@pytest.mark.parametrize("phone", ["021-62345678", "02162345678", "0571-8765432", "62345678"])
def test_accepts_landline_phone(phone):
    assert_valid(validate(phone=phone))


def test_accepts_landline_given_as_example_in_the_message():
    assert_valid(validate(phone="021-12345678"))


@pytest.mark.parametrize("phone", ["+8613912345678", "+86 139 1234 5678", "+86-13912345678"])
def test_normalises_mobile_with_country_code(phone):
    outcome = validate(phone=phone)
    assert_valid(outcome)
    assert outcome.values["phone"] == "13912345678"


def test_accepts_landline_with_country_code():
    assert_valid(validate(phone="+86 21 6234 5678"))


def test_accepts_foreign_phone_in_international_form():
    assert_valid(validate(phone="+85291234567"))


@pytest.mark.parametrize("phone", ["12345", "1391234567", "23912345678", "电话", "021-6234"])
def test_rejects_phone_that_is_neither_mobile_nor_landline(phone):
    message = assert_only_error(validate(phone=phone), "联系电话")
    assert "手机号" in message


# --- campus ----------------------------------------------------------------------------------


def test_accepts_branch_campus_of_the_school():
    assert_valid(validate(campus_code="101201"))


def test_accepts_campus_code_as_numeric_cell():
    outcome = validate(campus_code=101200)
    assert_valid(outcome)
    assert outcome.values["campus_code"] == "101200"


def test_rejects_campus_of_another_school():
    message = assert_only_error(validate(campus_code="101300"), "总分校编码")
    assert "一次只能上传一所院校" in message


def test_rejects_unknown_campus_of_the_school():
    message = assert_only_error(validate(campus_code="101299"), "总分校编码")
    assert "101200" in message and "101201" in message


def test_rejects_campus_the_filer_may_not_file_for():
    context = make_context(fileable_campuses=frozenset({"101200"}))
    message = assert_only_error(validate(context, campus_code="101201"), "总分校编码")
    assert "指定人员" in message


def test_accepts_campus_the_filer_may_file_for():
    context = make_context(fileable_campuses=frozenset({"101200"}))
    assert_valid(validate(context, campus_code="101200"))


@pytest.mark.parametrize("campus", ["10120", "1012AB", "1012-0"])
def test_rejects_campus_code_that_is_not_six_digits(campus):
    message = assert_only_error(validate(campus_code=campus), "总分校编码")
    assert "6 位数字" in message


# --- messages never leak identifiers ----------------------------------------------------------


LEAKY_ROWS = [
    pytest.param(person(with_wrong_check_character(MALE_ID)), id="check-character"),
    pytest.param(person(MALE_ID, sex="2"), id="sex"),
    pytest.param(person(MALE_ID, birth="20080306"), id="birth-date"),
    pytest.param(person(MALE_ID, id_type="7"), id="residence-prefix"),
    pytest.param(person(MALE_ID + "9"), id="length"),
    pytest.param(person(int(MALE_ID)), id="numeric-cell"),
    pytest.param(person(MALE_ID, id_type="2"), id="passport-format"),
    pytest.param(person(MALE_ID + "-", id_type="3"), id="permit-format"),
    pytest.param({"phone": "1391234567"}, id="short-phone"),
    pytest.param({"phone": "139123456789012345678"}, id="long-phone"),
    pytest.param({"phone": "23912345678"}, id="bad-phone"),
]


@pytest.mark.parametrize("overrides", LEAKY_ROWS)
def test_messages_never_contain_full_id_or_phone(overrides):
    row = demo_row()
    row.update(overrides)
    outcome = rules.validate_row(row, make_context())
    assert outcome.errors, "the row was meant to fail"
    secrets = {
        str(row["id_number"]),
        str(outcome.values["id_number"]),
        str(row["phone"]),
        str(outcome.values["phone"]),
    }
    secrets |= {secret[:11] for secret in secrets if len(secret) >= 11}
    for error in outcome.errors:
        for secret in secrets:
            assert secret not in error.message, (error.column, error.message)


def test_duplicate_messages_never_contain_the_duplicated_id():
    errors = rules.duplicate_errors(
        [(2, MALE_ID), (5, MALE_ID)], column="证件号码", what="证件号码"
    )
    assert errors
    assert all(MALE_ID not in error.message for error in errors)


def test_describe_person_masks_the_id_number():
    described = rules.describe_person({"name": "王阿姨", "id_number": "310104200801011234"})
    assert "310104200801011234" not in described
    assert "310*****34" in described


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", rules.HEADERS)
def test_template_headers_normalise_to_themselves(header):
    assert rules.normalize_header(header) == header


@pytest.mark.parametrize(
    ("messy", "header"),
    [
        ("姓 名", "姓名"),
        ("证件号码\u3000", "证件号码"),
        ("证件号码 ", "证件号码"),
        ("\u3000总 分 校 编 码\t", "总分校编码"),
        ("\ufeff姓名", "姓名"),
        ("报到注册日期\n", "报到注册日期"),
    ],
)
def test_normalize_header_ignores_spaces(messy, header):
    assert rules.normalize_header(messy) == header


def test_normalize_header_turns_full_width_brackets_half_width():
    full, half = "错误说明（可删除）", "错误说明(可删除)"
    assert rules.normalize_header(full) == rules.normalize_header(half) == half
    assert rules.normalize_header("（姓名）") == "(姓名)"


def test_normalize_header_turns_full_width_letters_half_width():
    assert rules.normalize_header("ＩＤ　号码") == "ID号码"


def test_normalize_header_of_empty_cell_is_empty():
    assert rules.normalize_header(None) == ""


# --- duplicates across rows ------------------------------------------------------------------


def test_duplicate_errors_flag_every_occurrence():
    errors = rules.duplicate_errors(
        [(2, "A"), (3, "B"), (4, "A"), (5, "A")], column="证件号码", what="证件号码"
    )
    assert sorted(error.row for error in errors) == [2, 4, 5]
    assert {error.column for error in errors} == {"证件号码"}


def test_duplicate_errors_name_the_other_rows():
    errors = rules.duplicate_errors(
        [(2, "A"), (3, "B"), (4, "A"), (5, "A")], column="学号", what="学号"
    )
    by_row = {error.row: error.message for error in errors}
    assert "与第 4 行等 2 行重复" in by_row[2]
    assert "与第 2 行等 2 行重复" in by_row[4]
    assert "与第 2 行等 2 行重复" in by_row[5]
    for message in by_row.values():
        assert message.startswith("学号")
        assert_actionable_chinese(message)


def test_duplicate_pair_names_the_one_other_row():
    errors = rules.duplicate_errors([(2, "A"), (9, "A")], column="学号", what="学号")
    assert [error.message.split("，")[0] for error in errors] == [
        "学号与第 9 行重复",
        "学号与第 2 行重复",
    ]


def test_duplicate_messages_stay_short_however_many_rows_repeat():
    errors = rules.duplicate_errors(
        [(row, "A") for row in range(2, 8002)], column="证件号码", what="证件号码"
    )
    assert len(errors) == 8000
    assert max(len(error.message) for error in errors) < 80
    assert "与第 3 行等 7999 行重复" in errors[0].message


def test_duplicate_errors_ignore_empty_keys():
    errors = rules.duplicate_errors([(2, ""), (3, ""), (4, "B")], column="学号", what="学号")
    assert errors == []


def test_duplicate_errors_ignore_unique_keys():
    assert rules.duplicate_errors([(2, "A"), (3, "B")], column="学号", what="学号") == []


def test_row_error_as_dict():
    error = rules.RowError(7, "姓名", "姓名不能为空，请填写")
    assert error.as_dict() == {"row": 7, "column": "姓名", "message": "姓名不能为空，请填写"}


# --- check character -------------------------------------------------------------------------


def test_id_check_character_of_the_standard_example_is_x():
    assert rules.id_check_character("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("first_17", "check"),
    # 440524188001010014 is the example printed in GB 11643; 11010120000101001 → 45 mod 11 = 1 → 0.
    [("44052418800101001", "4"), ("11010120000101001", "0")],
)
def test_id_check_character_matches_gb_11643(first_17, check):
    assert rules.id_check_character(first_17) == check


def test_id_check_character_follows_the_iso_7064_formula_for_every_remainder():
    # GB 11643: check value = (12 − Σ(digit × 2^(17−i) mod 11)) mod 11, written X when 10.
    seen = set()
    for serial in range(300):
        first_17 = f"31010420080305{serial:03d}"
        total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(first_17))
        value = (12 - total % 11) % 11
        expected = "X" if value == 10 else str(value)
        assert rules.id_check_character(first_17) == expected, first_17
        seen.add(expected)
    assert seen == set("0123456789X")


def test_make_id_number_produces_valid_check_character():
    assert rules.id_check_character(MALE_ID[:17]) == MALE_ID[17]


# --- masking ---------------------------------------------------------------------------------


def test_mask_id_number_keeps_first_three_and_last_two():
    assert mask_id_number("310104200801011234") == "310*****34"


def test_mask_id_number_hides_short_values_entirely():
    assert mask_id_number("12345") == "*****"
    assert mask_id_number("") == ""


def test_mask_phone_keeps_first_three_and_last_four_of_mobile():
    assert mask_phone("13812345678") == "138****5678"


def test_mask_phone_keeps_last_two_of_short_numbers():
    assert mask_phone("62345678") == "******78"
    assert mask_phone("12") == "**"


def test_mask_name_keeps_only_last_character():
    assert mask_name("王阿姨") == "*姨"
    assert mask_name("李四") == "*四"
    assert mask_name("王") == "王"


# --- real roster values: labels, formatted phones and postcodes (seed 01 template notes) -------


@pytest.mark.parametrize(
    ("attribute", "typed", "code"),
    [
        ("education", "研究生", "4"),
        ("education", "本科", "1"),
        ("education", "硕士研究生", "4"),
        ("education", "4 研究生", "4"),
        ("education", "4-研究生", "4"),
        ("sex", "男", "1"),
        ("id_type", "身份证", "1"),
        ("id_type", "居民身份证", "1"),
        ("willingness", "参加", "1"),
        ("willingness", "不参加", "0"),
        ("status", "在校", "00"),
        ("status", "正常在校", "00"),
        ("status", "保留入学资格", "10"),
    ],
)
def test_code_labels_that_mean_one_code_are_stored_as_that_code(attribute, typed, code):
    outcome = validate(**{attribute: typed})
    assert_valid(outcome)
    assert outcome.values[attribute] == code


def test_female_label_is_stored_as_code_2():
    outcome = validate(**person(FEMALE_ID, sex="女"))
    assert_valid(outcome)
    assert outcome.values["sex"] == "2"


def test_refused_label_message_names_the_code_to_fill_in_not_the_width():
    message = assert_only_error(validate(education="全日制本科"), "学历")
    assert message == "学历请填写代码 1（本科），不要填写“全日制本科”"
    assert "缩短" not in message


def test_ambiguous_label_is_refused_with_every_code_it_could_mean():
    message = assert_only_error(validate(status="休学"), "状态")
    assert "代码 01（因病休学）或代码 02（其它休学）" in message and "不要填写“休学”" in message


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("139 1234 5678", "13912345678"),
        ("139-1234-5678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("86 13912345678", "13912345678"),
        ("0086-139-1234-5678", "13912345678"),
        ("(021) 6234 5678", "021-62345678"),
        ("（021）62345678", "021-62345678"),
        ("021 6234 5678", "021-62345678"),
        ("02162345678", "021-62345678"),
        ("0571-56089977", "0571-56089977"),
        ("+852 9123 4567", "+852-91234567"),
    ],
)
def test_phones_with_spaces_dashes_brackets_or_country_code_are_stored_normalised(typed, stored):
    outcome = validate(phone=typed)
    assert_valid(outcome)
    assert outcome.values["phone"] == stored


@pytest.mark.parametrize("typed", ["200 240", " 200240 ", "２００２４０"])
def test_postcode_with_a_space_or_full_width_digits_is_accepted(typed):
    outcome = validate(postcode=typed)
    assert_valid(outcome)
    assert outcome.values["postcode"] == "200240"


@pytest.mark.parametrize(
    ("phone", "mobile"),
    [("13912345678", True), ("+852-91234567", True), ("021-62345678", False), ("62345678", False)],
)
def test_only_mobiles_can_receive_a_one_time_code(phone, mobile):
    assert rules.is_mobile(phone) is mobile


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("阿依古丽·买买提", "阿依古丽•买买提"),
        ("阿依古丽·买买提", "阿依古丽・买买提"),
        ("阿依古丽·买买提", "阿依古丽．买买提"),
        ("阿依古丽·买买提", "阿依古丽买买提"),
        ("JOHN SMITH", "john smith"),
        ("ＪＯＨＮ Smith", "JohnSmith"),
        ("王 小明", "王小明"),
    ],
)
def test_names_compare_ignoring_case_full_width_spaces_and_middle_dots(stored, typed):
    assert rules.same_name(stored, typed)


def test_different_names_do_not_compare_equal():
    assert not rules.same_name("王小明", "王晓明")


@pytest.mark.parametrize("header", ["*姓名", "姓名*", "＊姓名", "姓 名", "姓名（必填）"])
def test_starred_or_marked_required_headers_are_the_template_header(header):
    assert rules.normalize_header(header) == "姓名"


def test_demo_rows_past_100000_do_not_repeat_id_numbers():
    """The benchmark's 200,000-row roster: row 100,000 + i is not row i again (the random
    draws repeat with the seed, so only the region code can tell them apart)."""
    first = demo_rows(1000, school_code=SCHOOL, campus_codes=["101200"], year=YEAR)
    later = demo_rows(1000, school_code=SCHOOL, campus_codes=["101200"], year=YEAR, start=100_000)
    assert not {row["证件号码"] for row in first} & {row["证件号码"] for row in later}
    assert all(rules.check_id_number("1", row["证件号码"]) is None for row in later)
