"""What a complaint may be, whichever channel takes it: the rules of bot/core/complaints.py, without the bot."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.complaints import (
    ADDRESS_LIMIT,
    ANSWER_LIMIT,
    PROVIDER_NAME_LIMIT,
    TEXT_LIMIT,
    Draft,
    InputRefused,
    answer_text,
    complaint_text,
    postal_address,
    provider_name,
)

GOOD: dict[str, Any] = dict(addressee="provider", app_number=None, provider_name="Емхана", full_name="Ә. Б.",
                            address="Алматы", phone=None, body="Срок оказания услуги нарушен.")


def test_what_is_typed_is_taken_as_one_line_within_its_bounds():
    assert provider_name("  № 5   қалалық\nемхана ") == "№ 5 қалалық емхана"
    assert postal_address("Астана,\n  Мәңгілік Ел, 10") == "Астана, Мәңгілік Ел, 10"
    assert complaint_text("\n  Жалоба по существу.\n\nВторой абзац.  ") == "Жалоба по существу.\n\nВторой абзац."
    for rule, short, long, limit in ((provider_name, "ab", "x" * (PROVIDER_NAME_LIMIT + 1), PROVIDER_NAME_LIMIT),
                                     (postal_address, "ул 1", "x" * (ADDRESS_LIMIT + 1), ADDRESS_LIMIT),
                                     (complaint_text, "  коротко  ", "ә" * (TEXT_LIMIT + 1), TEXT_LIMIT),
                                     (answer_text, " Да. ", "ә" * (ANSWER_LIMIT + 1), ANSWER_LIMIT)):
        with pytest.raises(InputRefused) as refused:
            rule(short)
        assert refused.value.reason == "too_short"
        with pytest.raises(InputRefused) as refused:
            rule(long)
        assert (refused.value.reason, refused.value.limit) == ("too_long", limit)


def test_a_draft_is_made_only_within_the_rules():
    assert Draft(**GOOD).body == GOOD["body"]
    assert Draft(**{**GOOD, "body": "  " + GOOD["body"] + "\n"}).body == GOOD["body"]
    for change, field in (({"addressee": "the_minister"}, "addressee"),
                          ({"body": "Плохо."}, "text"),                         # under 10 characters
                          ({"body": "ә" * (TEXT_LIMIT + 1)}, "text"),
                          ({"provider_name": None}, "subject"),                 # about nothing
                          ({"app_number": "QZ-261124-0000102"}, "subject"),     # about two things
                          ({"provider_name": "no"}, "provider"),
                          ({"address": "  "}, "address"),
                          ({"file_id": "AgAC", "file_kind": "video"}, "attachment"),
                          ({"file_id": "AgAC"}, "attachment")):                # a file of no kind
        with pytest.raises(InputRefused) as refused:
            Draft(**{**GOOD, **change})
        assert refused.value.field == field, change
    assert isinstance(InputRefused("text", "too_short"), ValueError)  # callers that caught ValueError still do
