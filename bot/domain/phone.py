"""Phone numbers: normalise what a person types to E.164 and keep only Kazakh mobiles.

Kazakhstan shares +7 with Russia, so the prefix alone cannot tell the countries apart; `phonenumbers`
(region "KZ") decides. SMS and OTP go only to numbers whose region is KZ and whose type is mobile:
`+7 800…` toll-free (region RU), Russian mobiles (`+7 912…`) and landlines are refused.
"""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType

__all__ = ["InvalidPhone", "mask_phone", "normalize_phone"]

PhoneErrorReason = Literal["format", "not_kz_mobile"]

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

# No phone number written with separators is this long; refuse before any parsing work.
_MAX_INPUT_LEN = 40

# Only ASCII digits, an optional leading "+", and the separators people use. phonenumbers itself would
# convert full-width digits and even letters ("ABC" -> 222): we refuse those instead of guessing.
_SEPARATORS_RE = re.compile(r"[\s()\-.\u2010-\u2015\u2212\u200b\u2060\ufeff]+")
_SHAPE_RE = re.compile(r"\+?[0-9]{6,17}", re.ASCII)


class InvalidPhone(ValueError):
    """The text is not a Kazakh mobile number; `reason` picks the message shown to the person."""

    def __init__(self, reason: PhoneErrorReason, message: str | None = None) -> None:
        super().__init__(message or f"invalid phone ({reason})")
        self.reason: PhoneErrorReason = reason


def normalize_phone(text: str) -> str:
    """Return the E.164 form ("+77011234567") of a Kazakh mobile number, or raise InvalidPhone.

    Accepts "8 701 123 45 67", "87011234567", "77011234567" (Telegram contacts come without "+"),
    "7011234567" and "+7 (701) 123-45-67". Reason "format": not a phone number at all (letters,
    non-ASCII digits, wrong length); "not_kz_mobile": a real number we must not send SMS to.
    """
    if len(text) > _MAX_INPUT_LEN:
        raise InvalidPhone("format")
    compact = _SEPARATORS_RE.sub("", text)
    if not _SHAPE_RE.fullmatch(compact):
        raise InvalidPhone("format")
    try:
        number = phonenumbers.parse(compact, "KZ")
    except phonenumbers.NumberParseException:
        raise InvalidPhone("format") from None
    if number.extension or not phonenumbers.is_possible_number(number):
        raise InvalidPhone("format")
    if (
        not phonenumbers.is_valid_number(number)
        or phonenumbers.region_code_for_number(number) != "KZ"
        or phonenumbers.number_type(number) not in _MOBILE_TYPES
    ):
        raise InvalidPhone("not_kz_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Mask a phone for logs and third parties: "+7 701 *** ** 67" (operator code and last two digits).

    Anything that is not a +7 number with 10 national digits keeps only its last two digits.
    """
    digits = re.sub(r"[^0-9]", "", e164)
    if len(digits) == 11 and digits[0] == "7":
        return f"+7 {digits[1:4]} *** ** {digits[-2:]}"
    return "*** " + digits[-2:] if len(digits) >= 2 else "***"
