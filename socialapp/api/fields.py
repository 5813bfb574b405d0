"""Input fields that take exactly the JSON types the OpenAPI schema documents.

DRF's own fields coerce: a CharField turns the number ``5`` into ``"5"``, a BooleanField takes ``1``,
``"yes"`` and ``"on"``, a FloatField takes ``true`` (as 1.0) and numeric strings, and ``float()`` of a
huge JSON integer raises ``OverflowError``, which no DRF field catches (a 500). A client that sends the
wrong type has a bug; telling it so (a 400 naming the field) is kinder than guessing, and it keeps the
published contract the one the server enforces. Form-encoded bodies (only the upload endpoints take
them) carry text only, so booleans also accept the words ``true`` and ``false``; and a form field sent
twice is refused rather than "the last one wins" (a JSON body cannot repeat a key that way).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html


class _SingleValue(serializers.Field):
    """A form field given more than once reaches ``to_internal_value`` as a list, which no strict field takes."""

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and len(dictionary.getlist(self.field_name)) > 1:
            return dictionary.getlist(self.field_name)
        return super().get_value(dictionary)


# What ``str.strip()`` removes, which is what DRF trims (Python's whitespace: a few more than a regex's \s).
_SPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class StrictCharField(_SingleValue, serializers.CharField):
    """Text only: a number or a boolean is not silently turned into its digits.

    The schema also says what DRF enforces beyond a length: no NUL characters, and for a field that may
    not be blank, at least one character that is not whitespace (``" "`` is trimmed to ``""``, which is
    blank). The length limit applies to the text as sent, before trimming, as the schema's does.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.trim_whitespace and not self.allow_blank:
            pattern = rf"\A[^\x00]*[^\x00{_SPACE}][^\x00]*\Z"
        else:
            pattern = r"\A[^\x00]*\Z"
        # Replaces DRF's own NUL check (same rule, same message), so the schema can show it as a pattern.
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]
        self.validators.append(RegexValidator(pattern, message=ProhibitNullCharactersValidator.message))

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(_SingleValue, serializers.BooleanField):
    """``true`` or ``false``: a JSON boolean, or one of those two words (form fields are text)."""

    def to_internal_value(self, data: Any) -> bool | None:
        if isinstance(data, bool):
            return data
        if isinstance(data, str):
            word = data.strip().lower()
            if word in {"true", "false"}:
                return word == "true"
            if self.allow_null and word in {"", "null"}:
                return None
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a boolean, a string of digits or a fraction."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class StrictFloatField(serializers.FloatField):
    """A finite JSON number: not a boolean or a numeric string, and never an ``OverflowError``."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:  # an integer literal beyond the largest float
            self.fail("invalid")
        if not math.isfinite(value):
            self.fail("invalid")
        return value
