"""Defence in depth: full ID numbers and mobile numbers never leave the process unmasked.

The code logs neither (a walk-through test checks that); this filter and the exception-report
filter catch whatever a library, an exception message or a future line lets through.
"""

from __future__ import annotations

import logging
import re
from pprint import pformat

from django.views.debug import SafeExceptionReporterFilter

# 15-digit (first-generation) to 18-character resident ID numbers, last character may be X.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{3})\d{10,13}(\d[\dXx])(?![0-9A-Za-z])")
# Mainland mobiles, with an optional +86/86 prefix and spaces or dashes between groups.
_MOBILE = re.compile(r"(?<![\d+])((?:\+?86[- ]?)?1[3-9]\d)[- ]?\d{4}[- ]?(\d{4})(?!\d)")


def mask_personal(text: str) -> str:
    """Mask every full ID number (`310*****42`) and mobile number (`138****5678`) in `text`."""
    text = _ID_NUMBER.sub(r"\1*****\2", text)
    return _MOBILE.sub(r"\1****\2", text)


class MaskPersonalData(logging.Filter):
    """A handler filter: rewrites the record's message, traceback and stack with masks."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; let the handler report it as it would
            return True
        record.msg, record.args = mask_personal(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_personal(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_personal(record.stack_info)
        return True


class _MaskedValue:
    """Shows a traceback variable through the mask."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return mask_personal(pformat(self.value))


class MaskingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Exception reports (debug page, mail to admins) with personal numbers masked."""

    def get_post_parameters(self, request):
        cleansed = super().get_post_parameters(request)
        if request is None:
            return cleansed
        masked = cleansed.copy()
        for key, values in cleansed.lists():
            masked.setlist(key, [mask_personal(str(value)) for value in values])
        return masked

    def get_safe_request_meta(self, request):
        return {
            key: mask_personal(value) if isinstance(value, str) else value
            for key, value in super().get_safe_request_meta(request).items()
        }

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, _MaskedValue(value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
