"""Thai national IDs and mobile numbers, as residents type them."""

from __future__ import annotations

import pytest

from services.wallet.entrypoints.http.thai_ids import thai_mobile, thai_national_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("1234567890121", "1234567890121"),  # the textbook example, check digit 1
        ("1-2345-67890-12-1", "1234567890121"),
        ("3 1006 00181 23 9", "3100600181239"),
        ("1101700230708", "1101700230708"),
    ],
)
def test_a_national_id_with_its_check_digit_is_kept_as_13_digits(typed: str, digits: str) -> None:
    assert thai_national_id(typed) == digits


@pytest.mark.parametrize(
    "typed",
    [
        "1234567890122",  # wrong check digit
        "1234567890120",
        "123456789012",  # 12 digits
        "12345678901211",  # 14 digits
        "0234567890121",  # no ID starts with 0
        "12345678901a1",
        "".join(chr(0xFF10 + int(d)) for d in "1234567890121"),  # full-width digits
        "",
    ],
)
def test_anything_else_is_refused_without_repeating_it(typed: str) -> None:
    with pytest.raises(ValueError) as refused:
        thai_national_id(typed)
    assert not typed or typed not in str(refused.value)


@pytest.mark.parametrize(
    "typed",
    [
        "0812345678",
        "081-234-5678",
        "081 234 5678",
        "+66812345678",
        "+66 81 234 5678",
        "+66-81-234-5678",
        "66812345678",
        "+66 0812345678",
        "(081) 234-5678",
    ],
)
def test_mobile_numbers_are_normalised_to_ten_digits(typed: str) -> None:
    assert thai_mobile(typed) == "0812345678"


@pytest.mark.parametrize("prefix", ["06", "08", "09"])
def test_every_mobile_prefix_is_a_mobile(prefix: str) -> None:
    assert thai_mobile(prefix + "12345678") == prefix + "12345678"


@pytest.mark.parametrize(
    "typed",
    [
        "021234567",  # a Bangkok landline
        "0212345678",
        "081234567",  # 9 digits
        "08123456789",  # 11 digits
        "+1 812 345 6789",
        "+6681234567",  # +66 and 8 digits
        "08l2345678",
        "",
    ],
)
def test_landlines_and_foreign_numbers_are_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        thai_mobile(typed)
