"""The 18-field registration template and its rules (domain.md §3), as pure functions.

The browser upload, the CLI, the single-record form and the admin import all validate through
`validate_row`; nothing here touches the database or HTTP, so tests call it directly.

Every message names what is wrong and how to fix it, in the filer's language, and never
repeats an ID number or phone number.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from enrollment.masking import mask_id_number

# --- the template ---------------------------------------------------------------------------

ID_TYPES = {
    "1": "居民身份证",
    "2": "护照",
    "3": "港澳居民来往内地通行证",
    "4": "台胞证",
    "5": "侨胞证",
    "6": "台湾居民来往大陆通行证",
    "7": "港澳台居民居住证",
    "9": "其它",
}
SEXES = {"1": "男", "2": "女"}
EDUCATIONS = {"1": "本科", "2": "专科", "3": "高职", "4": "研究生"}
STATUSES = {
    "00": "正常在校",
    "01": "因病休学",
    "02": "其它休学",
    "03": "入伍",
    "10": "保留入学资格",
}
WILLINGNESS = {"1": "参加", "0": "不参加"}

ID_TYPE_RESIDENT_CARD = "1"
ID_TYPE_PASSPORT = "2"
ID_TYPE_HK_MACAO_PERMIT = "3"
ID_TYPE_TAIWAN_PERMIT = "6"
ID_TYPE_RESIDENCE_PERMIT = "7"
ID_TYPES_WITH_BIRTH_DATE = {ID_TYPE_RESIDENT_CARD, ID_TYPE_RESIDENCE_PERMIT}


@dataclass(frozen=True)
class FieldSpec:
    attribute: str
    header: str
    width: int
    required: bool = True
    codes: Mapping[str, str] | None = None
    note: str = ""


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "姓名", 30, note="与证件上的姓名一致"),
    FieldSpec("id_type", "证件类型", 1, codes=ID_TYPES),
    FieldSpec(
        "id_number",
        "证件号码",
        30,
        note="身份证 18 位（末位可为 X）；护照为国家代码(3 位大写字母)+0+护照号，国籍不详填 ZZZ；"
        "括号用半角",
    ),
    FieldSpec("origin", "原户籍地", 50, note="大陆居民填本市或省+市；非大陆居民填国籍或地区"),
    FieldSpec("birth_date", "出生日期", 8, note="YYYYMMDD"),
    FieldSpec("ethnicity", "民族", 20),
    FieldSpec("sex", "性别", 1, codes=SEXES),
    FieldSpec("college", "学院", 50),
    FieldSpec("major", "专业", 50),
    FieldSpec("student_number", "学号", 20, note="同一院校内不能重复"),
    FieldSpec("education", "学历", 1, codes=EDUCATIONS),
    FieldSpec("campus_code", "总分校编码", 6, note="学校编码 4 位 + 校区序号 2 位，总校为 00"),
    FieldSpec(
        "registration_date", "报到注册日期", 8, note="YYYYMMDD，当年 8 月 1 日至 12 月 31 日"
    ),
    FieldSpec("status", "状态", 2, codes=STATUSES),
    FieldSpec("address", "联系地址", 100, required=False),
    FieldSpec("postcode", "联系邮编", 6, required=False, note="6 位数字"),
    FieldSpec("phone", "联系电话", 20, note="手机号或座机号"),
    FieldSpec("willingness", "参保意愿", 1, codes=WILLINGNESS),
)
FIELD_BY_ATTRIBUTE = {spec.attribute: spec for spec in FIELDS}
HEADERS = tuple(spec.header for spec in FIELDS)
DATE_ATTRIBUTES = ("birth_date", "registration_date")

# Columns this portal adds to its own error workbook; a re-uploaded error workbook is accepted.
IGNORED_HEADERS = ("错误说明",)


# --- normalisation of messy cells -----------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)
_WHITESPACE = re.compile(r"\s+")
_INTEGRAL_FLOAT_TEXT = re.compile(r"^(\d+)\.0+$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$")
_DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s.*)?$")
_DIGIT_FIELDS = frozenset(
    {
        "id_type",
        "birth_date",
        "sex",
        "student_number",
        "education",
        "campus_code",
        "registration_date",
        "status",
        "postcode",
        "phone",
        "willingness",
    }
)


def normalize_text(value: object) -> str:
    """A cell as text: half-width (NFKC), trimmed, dates as YYYYMMDD, `12345.0` as `12345`."""
    if isinstance(value, str):
        if value.isascii():  # the common case; NFKC and the invisible characters are not ASCII
            return value.strip()
        return unicodedata.normalize("NFKC", value).translate(_INVISIBLE).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    return unicodedata.normalize("NFKC", str(value)).translate(_INVISIBLE).strip()


def normalize_id_number(value: object) -> str:
    """An ID number as stored: half-width, no whitespace anywhere, letters upper-case (x → X)."""
    return _WHITESPACE.sub("", normalize_text(value)).upper()


def normalize_header(value: object) -> str:
    """Headers that differ only by spaces or full-width characters are the same header."""
    return _WHITESPACE.sub("", normalize_text(value))


def _normalize_field(attribute: str, raw: object) -> str:
    text = normalize_text(raw)
    if not text:
        return text
    if attribute in _DIGIT_FIELDS:
        match = _INTEGRAL_FLOAT_TEXT.match(text)
        if match:
            text = match.group(1)
    if attribute in DATE_ATTRIBUTES:
        match = _DATE_TEXT.match(text)
        if match:
            year, month, day = match.groups()
            text = f"{year}{int(month):02d}{int(day):02d}"
    elif attribute == "id_number":
        text = normalize_id_number(text)
    elif attribute == "status" and len(text) == 1 and text.isdigit():
        text = "0" + text  # a spreadsheet turned 01 into 1; 10 never loses a digit
    elif attribute in {"postcode", "campus_code"} and isinstance(raw, int | float):
        text = text.zfill(6)  # numeric cells lose leading zeros
    elif attribute == "phone":
        text = _WHITESPACE.sub("", text)
        if text.startswith("+86"):
            national = text[3:].lstrip("-")
            # A mobile keeps its 11 digits; a landline gets back its trunk 0 (+86 21 … → 021…).
            text = national if _MOBILE.match(national) else "0" + national
    return text


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    column: str
    message: str


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class RowOutcome:
    values: dict[str, object]
    errors: list[FieldError] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class RowContext:
    """What a row is checked against: the school being filed and what the filer may file."""

    school_code: str
    enrollment_year: int
    school_campuses: frozenset[str]
    fileable_campuses: frozenset[str]
    today: dt.date


# --- single-value rules ----------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID18 = re.compile(r"^\d{17}[\dX]$")
_PASSPORT = re.compile(r"^[A-Z]{3}0[A-Z0-9]{4,26}$")
_HK_MACAO_PERMIT = re.compile(r"^(HKG|MAC)0[A-Z0-9()]{5,26}$")
_TAIWAN_PERMIT = re.compile(r"^TWN0[A-Z0-9()]{5,26}$")
_OTHER_ID = re.compile(r"^[A-Z0-9()\-]{4,30}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$")
_INTERNATIONAL = re.compile(r"^\+\d{1,4}-?\d{5,14}$")
_POSTCODE = re.compile(r"^\d{6}$")
_CAMPUS_CODE = re.compile(r"^\d{6}$")
_YYYYMMDD = re.compile(r"^\d{8}$")


def id_check_character(first_17_digits: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an 18-character ID."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_17_digits, _ID_WEIGHTS, strict=True)
    )
    return _ID_CHECK_CHARS[total % 11]


def parse_yyyymmdd(text: str) -> dt.date | None:
    if not _YYYYMMDD.match(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def registration_window(enrollment_year: int) -> tuple[dt.date, dt.date]:
    return dt.date(enrollment_year, 8, 1), dt.date(enrollment_year, 12, 31)


def _check_18_character_id(id_number: str, id_type_label: str) -> str | None:
    if len(id_number) != 18:
        return f"{id_type_label}号码应为 18 位，当前为 {len(id_number)} 位，请核对"
    if not _ID18.match(id_number):
        return f"{id_type_label}号码前 17 位只能是数字，最后一位是数字或 X，请核对"
    if id_check_character(id_number[:17]) != id_number[17]:
        return "证件号码校验位不正确（最后一位与前 17 位不符），请核对是否抄错"
    if parse_yyyymmdd(id_number[6:14]) is None:
        return "证件号码中的出生日期（第 7–14 位）不是有效日期，请核对"
    return None


def check_id_number(id_type: str, id_number: str) -> str | None:
    """The message for an ID number that does not fit its type, or None when it fits."""
    if _SCIENTIFIC.match(id_number):
        return "证件号码被写成了科学计数法，已丢失位数。请将该列设为“文本”格式后重新输入完整号码"
    if id_type == ID_TYPE_RESIDENT_CARD:
        return _check_18_character_id(id_number, "身份证")
    if id_type == ID_TYPE_RESIDENCE_PERMIT:
        if not id_number.startswith(("81", "82", "83")):
            return "港澳台居民居住证号码应以 81（香港）、82（澳门）或 83（台湾）开头，请核对"
        return _check_18_character_id(id_number, "居住证")
    if id_type == ID_TYPE_PASSPORT:
        if not _PASSPORT.match(id_number):
            return (
                "护照号码应为“国家代码（3 位大写字母，国籍不详填 ZZZ）+ 0 + 护照号”，"
                "例如 USA0123456789，请按此格式填写"
            )
        return None
    if id_type == ID_TYPE_HK_MACAO_PERMIT:
        if not _HK_MACAO_PERMIT.match(id_number):
            return "港澳居民来往内地通行证号码应为 HKG0 或 MAC0 加通行证号码，例如 HKG0H12345678"
        return None
    if id_type == ID_TYPE_TAIWAN_PERMIT:
        if not _TAIWAN_PERMIT.match(id_number):
            return "台湾居民来往大陆通行证号码应为 TWN0 加通行证号码，例如 TWN012345678"
        return None
    if not _OTHER_ID.match(id_number):
        return "证件号码只能包含字母、数字、半角括号和连字符，长度 4–30 位，请核对"
    return None


def identify_id_problem(id_number: str) -> str | None:
    """For a student typing their own ID number (type unknown): what is plainly wrong with it.

    Only the shape is judged: the answer is the same whether or not anyone with that number is
    on a roster. 18 digits (last may be X) must carry a valid check character and birth date;
    a digits-only number of another length near 18 is a mistyped resident ID.
    """
    if not id_number:
        return "请输入证件号码"
    if len(id_number) == 18 and _ID18.match(id_number):
        return _check_18_character_id(id_number, "身份证")
    if id_number.isdigit() and 15 <= len(id_number) <= 20:
        return f"居民身份证号码应为 18 位，您输入了 {len(id_number)} 位，请核对"
    if not _OTHER_ID.match(id_number):
        return "证件号码只能包含字母、数字和半角括号，请核对后重新输入"
    return None


def check_phone(phone: str) -> str | None:
    if _MOBILE.match(phone) or _LANDLINE.match(phone) or _INTERNATIONAL.match(phone):
        return None
    return "联系电话应为 11 位手机号或带区号的座机号（如 021-12345678），请核对"


# --- the row ---------------------------------------------------------------------------------


def validate_row(raw: Mapping[str, object], context: RowContext) -> RowOutcome:
    """Normalise and check one roster row, keyed by attribute name (see FIELDS).

    Returns the cleaned values (text, with the two dates as `datetime.date`) and every
    problem found, one per column at most.
    """
    values: dict[str, object] = {}
    errors: dict[str, str] = {}

    for spec in FIELDS:
        text = _normalize_field(spec.attribute, raw.get(spec.attribute))
        values[spec.attribute] = text
        if not text:
            if spec.required:
                errors[spec.attribute] = f"{spec.header}不能为空，请填写"
            continue
        if len(text) > spec.width:
            errors[spec.attribute] = (
                f"{spec.header}最长 {spec.width} 个字符，当前 {len(text)} 个，请缩短"
            )
            continue
        if spec.codes is not None and text not in spec.codes:
            allowed = "、".join(f"{code} {label}" for code, label in spec.codes.items())
            errors[spec.attribute] = f"{spec.header}只能填代码：{allowed}"

    id_raw = raw.get("id_number")
    if isinstance(id_raw, int | float) and not isinstance(id_raw, bool):
        errors["id_number"] = (
            "证件号码是数字格式的单元格，Excel 已把长号码截断，无法还原。"
            "请将该列设为“文本”格式后重新输入完整号码"
        )

    id_type = values["id_type"]
    id_number = values["id_number"]
    if id_number and "id_number" not in errors and "id_type" not in errors:
        message = check_id_number(id_type, id_number)
        if message:
            errors["id_number"] = message

    id_is_usable = id_type in ID_TYPES_WITH_BIRTH_DATE and id_number and "id_number" not in errors

    for attribute in DATE_ATTRIBUTES:
        text = values[attribute]
        if not text or attribute in errors:
            values[attribute] = None
            continue
        parsed = parse_yyyymmdd(text)
        if parsed is None:
            header = FIELD_BY_ATTRIBUTE[attribute].header
            errors[attribute] = f"{header}应为 8 位日期 YYYYMMDD（如 20250901），且须是真实日期"
        values[attribute] = parsed

    birth_date = values["birth_date"]
    if birth_date is not None:
        if birth_date > context.today or birth_date.year < 1900:
            errors["birth_date"] = "出生日期不在合理范围内，请核对"
        elif id_is_usable and birth_date != parse_yyyymmdd(id_number[6:14]):
            errors["birth_date"] = "出生日期与证件号码中的出生日期（第 7–14 位）不一致，请核对"

    registration_date = values["registration_date"]
    if registration_date is not None:
        first, last = registration_window(context.enrollment_year)
        if not first <= registration_date <= last:
            errors["registration_date"] = (
                f"报到注册日期只能在 {context.enrollment_year} 年 8 月 1 日至 12 月 31 日之间"
                f"（{first:%Y%m%d}–{last:%Y%m%d}），请核对"
            )

    sex = values["sex"]
    if id_is_usable and sex in SEXES and "sex" not in errors:
        sex_in_id = "1" if int(id_number[16]) % 2 == 1 else "2"
        if sex != sex_in_id:
            errors["sex"] = (
                "性别与证件号码第 17 位不一致（奇数为男 1，偶数为女 2），请核对性别或证件号码"
            )

    campus_code = values["campus_code"]
    if campus_code and "campus_code" not in errors:
        message = _check_campus(campus_code, context)
        if message:
            errors["campus_code"] = message

    postcode = values["postcode"]
    if postcode and "postcode" not in errors and not _POSTCODE.match(postcode):
        errors["postcode"] = "联系邮编应为 6 位数字，请核对"

    phone = values["phone"]
    if phone and "phone" not in errors:
        message = check_phone(phone)
        if message:
            errors["phone"] = message

    ordered = [
        FieldError(FIELD_BY_ATTRIBUTE[spec.attribute].header, errors[spec.attribute])
        for spec in FIELDS
        if spec.attribute in errors
    ]
    return RowOutcome(values=values, errors=ordered)


def _check_campus(campus_code: str, context: RowContext) -> str | None:
    if not _CAMPUS_CODE.match(campus_code):
        return "总分校编码应为 6 位数字（学校编码 4 位 + 校区序号 2 位），请核对"
    if not campus_code.startswith(context.school_code):
        return (
            f"总分校编码 {campus_code} 不属于所选院校 {context.school_code}。"
            "一次只能上传一所院校的名单，请把这一行移到对应院校的文件中"
        )
    if campus_code not in context.school_campuses:
        known = "、".join(sorted(context.school_campuses)) or "无"
        return (
            f"院校 {context.school_code} 没有编码为 {campus_code} 的校区（已登记：{known}），请核对"
        )
    if campus_code not in context.fileable_campuses:
        return f"您不是校区 {campus_code} 的指定人员或备选经办人员，不能为该校区上传，请联系该校区的指定人员"
    return None


# --- rules across rows -----------------------------------------------------------------------


def duplicate_errors(
    keys_by_row: Iterable[tuple[int, str]], *, column: str, what: str
) -> list[RowError]:
    """Every row whose key also appears on another row of the same file.

    All occurrences are errors: the portal cannot know which of two rows for one person is right.
    Each message names one other row and how many there are ("与第 12 行等 3 行重复"), so
    the messages grow with the number of rows, not with its square.
    """
    rows_by_key: dict[str, list[int]] = {}
    for row, key in keys_by_row:
        if key:
            rows_by_key.setdefault(key, []).append(row)
    errors = []
    for rows in rows_by_key.values():
        if len(rows) < 2:
            continue
        others = len(rows) - 1
        for row in rows:
            other = rows[1] if row == rows[0] else rows[0]
            where = f"第 {other} 行" if others == 1 else f"第 {other} 行等 {others} 行"
            errors.append(
                RowError(
                    row,
                    column,
                    f"{what}与{where}重复，同一文件中每人只能出现一次，请删除或改正重复的行",
                )
            )
    return errors


def describe_person(values: Mapping[str, object]) -> str:
    """A safe way to name a row's person in a message: name and masked ID number."""
    return f"{values.get('name', '')}（{mask_id_number(str(values.get('id_number', '')))}）"
