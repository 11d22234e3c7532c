"""Thai national ID and mobile numbers, as residents type them.

Error messages never repeat the value: it is personal data.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()]")
_MOBILE = re.compile(r"^0[689]\d{8}$")


def national_id_check_digit(first_twelve: str) -> int:
    """The 13th digit: weights 13 down to 2 over the first twelve, then (11 - sum mod 11) mod 10."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_twelve, range(13, 1, -1), strict=True)
    )
    return (11 - total % 11) % 10


def thai_national_id(value: str) -> str:
    """The 13 digits of a Thai national ID (spaces and dashes dropped), checksum verified."""
    digits = _SEPARATORS.sub("", value)
    if not (len(digits) == 13 and digits.isascii() and digits.isdigit()):
        raise ValueError("a Thai national ID has 13 digits")
    if digits[0] == "0":
        raise ValueError("a Thai national ID does not start with 0")
    if national_id_check_digit(digits[:12]) != int(digits[12]):
        raise ValueError("the national ID's check digit does not match")
    return digits


def thai_mobile(value: str) -> str:
    """A Thai mobile number as ``0XXXXXXXXX``, from +66 / 66 / 0 forms with any separators."""
    number = _SEPARATORS.sub("", value)
    for country in ("+66", "66"):
        if number.startswith(country) and len(number) in (len(country) + 9, len(country) + 10):
            national = number[len(country) :]
            number = national if national.startswith("0") else "0" + national
            break
    if not (number.isascii() and _MOBILE.match(number)):
        raise ValueError("not a Thai mobile number (10 digits starting 06, 08 or 09)")
    return number
