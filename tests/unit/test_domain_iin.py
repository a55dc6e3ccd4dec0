"""IIN parsing and checksum: both passes, prefixes without a check digit, non-ASCII digits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.iin import InvalidIIN, check_digit, is_valid_iin, mask_iin, parse_iin

# Computed by hand (see comments): weights 1..11, then 3,4,5,6,7,8,9,10,11,1,2.
FIRST_PASS = "900101300126"  # 9+0+0+4+0+6+21+0+0+10+22 = 72; 72 mod 11 = 6
FIRST_PASS_2000S = "000101500120"  # 0+0+0+4+0+6+35+0+0+10+22 = 77; 77 mod 11 = 0
SECOND_PASS = "900601404563"  # pass 1: 219 mod 11 = 10; pass 2: 168 mod 11 = 3
NO_CHECK_DIGIT_PREFIX = "78010161234"  # pass 1: 175 mod 11 = 10; pass 2: 164 mod 11 = 10


def test_check_digit_first_pass() -> None:
    assert check_digit(FIRST_PASS[:11]) == 6
    assert check_digit(FIRST_PASS_2000S[:11]) == 0


def test_check_digit_second_pass() -> None:
    assert check_digit(SECOND_PASS[:11]) == 3


def test_prefix_with_second_pass_10_has_no_check_digit() -> None:
    assert check_digit(NO_CHECK_DIGIT_PREFIX) is None
    for last in "0123456789":
        assert not is_valid_iin(NO_CHECK_DIGIT_PREFIX + last)
        with pytest.raises(InvalidIIN) as exc:
            parse_iin(NO_CHECK_DIGIT_PREFIX + last)
        assert exc.value.reason == "checksum"


@pytest.mark.parametrize("bad", ["", "1234567890", "123456789012", "１２３４５６７８９０１", "9001013001a"])
def test_check_digit_rejects_non_prefix(bad: str) -> None:
    with pytest.raises(ValueError):
        check_digit(bad)


@pytest.mark.parametrize("iin", [FIRST_PASS, FIRST_PASS_2000S, SECOND_PASS])
def test_valid_iins(iin: str) -> None:
    assert is_valid_iin(iin)
    assert parse_iin(iin) == iin


def test_leading_zero_is_kept() -> None:
    assert parse_iin("000101 500 120") == "000101500120"


@pytest.mark.parametrize(
    "typed",
    [
        "900101 300 126",
        " 900101300126 ",
        "900101-300-126",
        "900101\u00a0300\u00a0126",  # no-break spaces
        "900101\u2009300\u2009126",  # thin spaces
        "900101\u202f300\u202f126",  # narrow no-break spaces
        "9001 0130 0126\n",
        "900101\u2013300126",  # en dash
        "\u200b900101300126",  # zero-width space from copy-paste
    ],
)
def test_separators_are_stripped(typed: str) -> None:
    assert parse_iin(typed) == FIRST_PASS


def test_wrong_check_digit() -> None:
    with pytest.raises(InvalidIIN) as exc:
        parse_iin("900101300127")
    assert exc.value.reason == "checksum"
    assert not is_valid_iin("900101300127")
    with pytest.raises(InvalidIIN) as exc:
        parse_iin("900601404560")  # second-pass number with the first-pass-style wrong digit
    assert exc.value.reason == "checksum"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "90010130012",
        "9001013001266",
        "90010130012a",
        "ИИН 900101300126",
        "+900101300126",
        "900101.300.126",
        "9" * 1000,
        "9" * 10_000_000,
    ],
)
def test_format_errors(text: str) -> None:
    with pytest.raises(InvalidIIN) as exc:
        parse_iin(text)
    assert exc.value.reason == "format"


@pytest.mark.parametrize(
    "text",
    [
        "٩٠٠١٠١٣٠٠١٢٦",  # Arabic-Indic digits
        "９００１０１３００１２６",  # full-width digits
        "90010130012６",  # one full-width digit
        "۹۰۰۱۰۱۳۰۰۱۲۶",  # Extended Arabic-Indic (Persian)
        "९००१०१३००१२६",  # Devanagari
    ],
)
def test_non_ascii_digits_are_refused(text: str) -> None:
    assert int(text) == 900101300126  # the Python trap: int() accepts them
    with pytest.raises(InvalidIIN) as exc:
        parse_iin(text)
    assert exc.value.reason == "non_ascii"
    assert not is_valid_iin(text)


def test_is_valid_iin_does_not_strip() -> None:
    assert not is_valid_iin("900101 300 126")


def test_date_and_sex_are_not_enforced() -> None:
    # Month 13 and century digit 0: impossible birth data, valid checksum -> accepted (facts.md).
    prefix = "901301000001"[:11]
    digit = check_digit(prefix)
    assert digit is not None
    assert parse_iin(prefix + str(digit)) == prefix + str(digit)


def test_invalid_iin_is_value_error() -> None:
    assert issubclass(InvalidIIN, ValueError)


def test_mask_iin() -> None:
    assert mask_iin("900101301234") == "******1234"
    assert mask_iin(FIRST_PASS) == "******0126"
    assert "900101" not in mask_iin(FIRST_PASS)
    assert mask_iin("") == "******"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_every_prefix_has_one_valid_check_digit_or_none(prefix: str) -> None:
    valid = [d for d in "0123456789" if is_valid_iin(prefix + d)]
    digit = check_digit(prefix)
    if digit is None:
        assert valid == []
    else:
        assert valid == [str(digit)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_raises_only_invalid_iin(text: str) -> None:
    try:
        result = parse_iin(text)
    except InvalidIIN as exc:
        assert exc.reason in ("format", "non_ascii", "checksum")
    else:
        assert is_valid_iin(result)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_valid_iin_round_trips_with_spaces(prefix: str) -> None:
    digit = check_digit(prefix)
    if digit is None:
        return
    iin = prefix + str(digit)
    assert parse_iin(f"{iin[:6]} {iin[6:9]} {iin[9:]}") == iin
