"""The small rules behind the data subject's features: offer tags, what became of a consent, a bare number by
SMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.subject_requests import decision_of
from bot.domain import tags
from handlers.sms_commands import parse_sms
from store.subject_requests import SubjectRequestRow

KEY = b"k" * 32
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_tag_is_bound_to_its_value_chat_and_key():
    tag = tags.tag(KEY, "consent-offer", "QZ-261201-0000001", 42)
    assert len(tag) == tags.TAG_LENGTH and len(f"cy:QZ-261201-0000001:{tag}".encode()) <= 64
    assert tags.valid(KEY, tag, "consent-offer", "QZ-261201-0000001", 42)
    assert not tags.valid(KEY, tag, "consent-offer", "QZ-261201-0000001", 43)
    assert not tags.valid(KEY, tag, "consent-offer", "QZ-261201-0000002", 42)
    assert not tags.valid(b"x" * 32, tag, "consent-offer", "QZ-261201-0000001", 42)
    assert not tags.valid(KEY, "", "consent-offer", "QZ-261201-0000001", 42)


def row(status: str | None, method: str | None = None, app_status: str = "awaiting_consent",
        expires_in: int = 60) -> SubjectRequestRow:
    return SubjectRequestRow("QZ-261201-0000001", "tb_info", NOW, app_status, "900715300451", "Иванов Сергей",
                             status, method, None, NOW + timedelta(seconds=expires_in), None)


@pytest.mark.parametrize(("given", "expected"), [
    (row("pending"), "pending"),
    (row("pending", expires_in=-1), "expired"),  # the sweeper has not closed it yet
    (row("given", "otp"), "consented_otp"),
    (row("given", "sms"), "consented_sms"),
    (row("given", "cabinet"), "consented_cabinet"),
    (row("declined", "sms"), "declined"),
    (row("declined", "cabinet"), "declined"),
    (row("expired"), "expired"),
    (row("failed"), "wrong_codes"),
    (row(None, app_status="refused"), "no_phone"),
])
def test_what_became_of_a_consent(given, expected):
    assert decision_of(given, NOW) == expected


@pytest.mark.parametrize("text", ["QZ-261120-0000101", "qz 261120 0000101", "QZ2611200000101", "CP-261125-0012345",
                                  "ср 261125 0012345"])
def test_a_bare_number_by_sms_asks_for_its_status(text):
    command = parse_sms(text)
    assert command.action == "status" and command.lang is None and command.argument


@pytest.mark.parametrize("text", ["482913", "ДА 482913", "QZ", "QZ-26"])
def test_what_is_not_a_bare_number(text):
    assert parse_sms(text).action != "status"
