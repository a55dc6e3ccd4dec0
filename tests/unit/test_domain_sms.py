"""SMS segment counting: GSM-7 vs UCS-2, extension characters, surrogate pairs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.sms_segments import GSM7_BASIC, GSM7_EXTENSION, Segments, count_segments


def test_empty_text() -> None:
    assert count_segments("") == Segments("GSM-7", 0, 1)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_limits(length: int, segments: int) -> None:
    assert count_segments("a" * length) == Segments("GSM-7", length, segments)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_limits_kazakh(length: int, segments: int) -> None:
    assert count_segments("ә" * length) == Segments("UCS-2", length, segments)


@pytest.mark.parametrize("letter", list("әғқңөұүһіжЁя"))
def test_kazakh_and_cyrillic_letters_force_ucs2(letter: str) -> None:
    assert count_segments("Hello " + letter).encoding == "UCS-2"


def test_one_cyrillic_letter_switches_whole_message() -> None:
    latin = "a" * 100
    assert count_segments(latin) == Segments("GSM-7", 100, 1)
    assert count_segments(latin + "ж") == Segments("UCS-2", 101, 2)


def test_realistic_kk_and_ru_texts() -> None:
    kk = "Сіздің кодыңыз: 123456. Оны ешкімге айтпаңыз."
    ru = "Ваш код: 123456. Никому его не сообщайте."
    assert count_segments(kk) == Segments("UCS-2", len(kk), 1)
    assert count_segments(ru) == Segments("UCS-2", len(ru), 1)


def test_extension_characters_count_two() -> None:
    assert count_segments("€") == Segments("GSM-7", 2, 1)
    assert count_segments("[]{}") == Segments("GSM-7", 8, 1)
    assert count_segments("€" * 80) == Segments("GSM-7", 160, 1)
    assert count_segments("€" * 81) == Segments("GSM-7", 162, 2)


def test_extension_character_not_split_between_parts() -> None:
    # 152 septets + "€": 154 > 153, so "€" starts part 2 instead of being cut.
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3
    assert count_segments("a" * 151 + "€" + "a" * 153).segments == 2


def test_gsm_specials_stay_gsm() -> None:
    text = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r"
    assert count_segments(text) == Segments("GSM-7", len(text), 1)


@pytest.mark.parametrize("char", ["ç", "á", "—", "«", "№", "₸", "’", "\u00a0"])
def test_common_non_gsm_characters(char: str) -> None:
    assert count_segments("abc" + char).encoding == "UCS-2"


def test_emoji_counts_two_units() -> None:
    assert count_segments("😀") == Segments("UCS-2", 2, 1)
    assert count_segments("ә" * 68 + "😀") == Segments("UCS-2", 70, 1)
    assert count_segments("ә" * 69 + "😀") == Segments("UCS-2", 71, 2)


def test_surrogate_pair_not_split_between_parts() -> None:
    # 66 units + emoji (2) = 68 > 67: the emoji moves to part 2 whole.
    assert count_segments("ә" * 66 + "😀" + "ә" * 66).segments == 3
    assert count_segments("ә" * 65 + "😀" + "ә" * 67).segments == 2
    assert count_segments("ә" * 66 + "😀" + "ә" * 66).units == 134


def test_alphabet_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points minus ESC
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


_texts = st.text(
    alphabet=st.sampled_from(list("aZ09 .€[]{}") + ["ә", "ж", "😀", "\n"]), max_size=400
)


@settings(max_examples=200, deadline=None)
@given(_texts, _texts)
def test_segments_monotonic_when_appending(a: str, b: str) -> None:
    assert count_segments(a + b).segments >= count_segments(a).segments


@settings(max_examples=200, deadline=None)
@given(_texts)
def test_segments_bounds(text: str) -> None:
    seg = count_segments(text)
    single, per_part = (160, 153) if seg.encoding == "GSM-7" else (70, 67)
    if seg.units <= single:
        assert seg.segments == 1
    else:
        # at least the naive count, at most one lost unit per part
        assert -(-seg.units // per_part) <= seg.segments <= -(-seg.units // (per_part - 1))
