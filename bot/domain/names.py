"""Names shown to a third party: enough to recognise the person, not the full name."""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_GIVEN_NAME", "mask_name"]

# A given name longer than this is cut (with "…"), so that an SMS naming the requester keeps its budget.
MAX_GIVEN_NAME = 16


def _initial(word: str) -> str:
    """First letter of a word, with any combining marks that belong to it, upper-cased."""
    end = 1
    while end < len(word) and unicodedata.combining(word[end]):
        end += 1
    return word[:end].upper()


def mask_name(full_name: str) -> str:
    """Shorten "Surname Name Patronymic" to "Name S." for a requester who is not the subject.

    Kazakh documents list the surname first ("Сейтқали Айгерім Нұрланқызы" -> "Айгерім С.").
    The patronymic is dropped; a single word becomes its initial ("Айгерім" -> "А."); empty text
    gives "".
    """
    words = unicodedata.normalize("NFC", full_name).split()
    if not words:
        return ""
    if len(words) == 1:
        return _initial(words[0]) + "."
    given = words[1] if len(words[1]) <= MAX_GIVEN_NAME else words[1][: MAX_GIVEN_NAME - 1] + "…"
    return f"{given} {_initial(words[0])}."
