"""Phone normalisation: Kazakh mobiles only, E.164 out, masking for logs."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.names import mask_name
from bot.domain.phone import InvalidPhone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "typed",
    [
        "8 701 123 45 67",
        "87011234567",
        "77011234567",  # Telegram contact, no "+"
        "+77011234567",
        "7011234567",
        "+7 (701) 123-45-67",
        "8(701)123-45-67",
        "+7\u00a0701\u00a0123\u00a045\u00a067",
        " +7 701 123 45 67 ",
        "8 10 7 701 123 45 67",  # dialled internationally from Kazakhstan
    ],
)
def test_kz_mobile_forms(typed: str) -> None:
    assert normalize_phone(typed) == "+77011234567"


@pytest.mark.parametrize(
    "number",
    ["+77001234567", "+77071234567", "+77471234567", "+77641234567", "+77711234567",
     "+77751234567", "+77771234567", "+77781234567", "+77851234567"],
)
def test_kz_mobile_prefixes(number: str) -> None:
    assert normalize_phone(number) == number


@pytest.mark.parametrize(
    "typed",
    [
        "+7 800 080 7777",  # toll-free, region RU
        "8 800 080 7777",
        "+7 912 345 67 89",  # Russian mobile
        "89123456789",
        "+7 727 258 00 00",  # Almaty landline
        "+7 7172 123456",  # Astana landline
        "+998 90 123 45 67",  # Uzbek mobile
        "+7 709 123 45 67",  # right length, unassigned range
    ],
)
def test_not_kz_mobile(typed: str) -> None:
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(typed)
    assert exc.value.reason == "not_kz_mobile"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "+",
        "hello",
        "+7 701 ABC 45 67",  # phonenumbers would turn letters into digits
        "７０１１２３４５６７",  # full-width digits
        "٧٠١١٢٣٤٥٦٧",  # Arabic-Indic digits
        "+7 701 123 45 67 ext 5",
        "+77011234567890",
        "70112345",
        "+7 701 123 45 67 +7",
        "7" * 41,
        "8" * 5_000_000,
    ],
)
def test_format_errors(typed: str) -> None:
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(typed)
    assert exc.value.reason == "format"


def test_long_input_is_fast() -> None:
    start = time.perf_counter()
    for _ in range(100):
        with pytest.raises(InvalidPhone):
            normalize_phone("1 " * 1_000_000)
    assert time.perf_counter() - start < 1.0


def test_invalid_phone_is_value_error() -> None:
    assert issubclass(InvalidPhone, ValueError)


def test_mask_phone() -> None:
    assert mask_phone("+77011234567") == "+7 701 *** ** 67"
    assert mask_phone("+77771234599") == "+7 777 *** ** 99"
    masked = mask_phone("+998901234567")
    assert masked.endswith("67") and "90123" not in masked


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_normalize_raises_only_invalid_phone(text: str) -> None:
    try:
        result = normalize_phone(text)
    except InvalidPhone as exc:
        assert exc.reason in ("format", "not_kz_mobile")
    else:
        assert result.startswith("+77") and len(result) == 12


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["700", "701", "702", "705", "707", "708", "747", "771", "775", "776",
                        "777", "778"]),
       st.text(alphabet="0123456789", min_size=7, max_size=7),
       st.sampled_from(["+7{}{}", "8{}{}", "7{}{}", "{}{}", "+7 ({}) {}", "8 {} {}"]))
def test_generated_kz_mobiles_normalise(code: str, rest: str, template: str) -> None:
    assert normalize_phone(template.format(code, rest)) == f"+7{code}{rest}"


@pytest.mark.parametrize(
    ("full", "masked"),
    [
        ("Сейтқали Айгерім Нұрланқызы", "Айгерім С."),
        ("  Сейтқали   Айгерім  Нұрланқызы ", "Айгерім С."),
        ("Иванов Иван", "Иван И."),
        ("ұлан", "Ұ."),
        ("Айгерім", "А."),
        ("", ""),
        ("   ", ""),
        ("Әбілов\u00a0Ерлан Серікұлы", "Ерлан Ә."),
    ],
)
def test_mask_name(full: str, masked: str) -> None:
    assert mask_name(full) == masked
