"""Masking for identity numbers, phones and names wherever they leave a record page.

Error messages, change previews and logs use these; a full ID number or phone never appears there.
"""


def mask_id_number(value: str) -> str:
    """`310101200701011234` → `310*****34`, the form shown on the students' phone screens."""
    value = value or ""
    if len(value) <= 5:
        return "*" * len(value)
    return f"{value[:3]}*****{value[-2:]}"


def mask_phone(value: str) -> str:
    """`13812345678` → `138****5678`; short numbers keep only their last two characters."""
    value = value or ""
    if len(value) >= 11:
        return f"{value[:3]}****{value[-4:]}"
    if len(value) <= 2:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]


def mask_name(value: str) -> str:
    """`王阿姨` → `*姨`, the seeds' form: one star, then the last character (hides the length)."""
    value = value or ""
    if len(value) <= 1:
        return value
    return "*" + value[-1]
