"""SMPP without a connection: texts as UCS-2 parts, inbound texts and parts, receipts, and the settings (SMPP
3.4's field sizes; the password never shown). The connection itself: tests/e2e/test_smpp.py."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.gateways.smpp_codec import ESM_UDHI, decode_text, parse_receipt, split_udh, ucs2_parts
from bot.gateways.smpp_gateway import address_of


def test_seventy_units_are_one_sms_seventy_one_are_two_parts():
    assert [p.esm_class for p in ucs2_parts("ж" * 70, 9)] == [0]
    assert ucs2_parts("ж" * 70, 9)[0].short_message == ("ж" * 70).encode("utf-16-be")
    parts = ucs2_parts("ж" * 71, 9)
    assert len(parts) == 2 and all(p.esm_class == ESM_UDHI for p in parts)
    assert parts[0].short_message[:6] == bytes([5, 0, 3, 9, 2, 1]) and parts[1].short_message[:6] == bytes(
        [5, 0, 3, 9, 2, 2])
    assert len(parts[0].short_message) == 6 + 134  # 67 units: the 140 octets of one SMS


def test_parts_join_back_and_an_emoji_is_never_cut():
    text = "ә" * 66 + "🙂" + "қ" * 10  # the emoji's surrogate pair would straddle units 67 and 68
    parts = ucs2_parts(text, 1)
    joined = b"".join(split_udh(p.esm_class, p.short_message)[1] for p in parts).decode("utf-16-be")
    assert joined == text
    assert len(parts[0].short_message) == 6 + 132  # one unit short, the pair went whole to the next part


def test_inbound_codings():
    assert decode_text(8, "ИӘ 123456".encode("utf-16-be")) == "ИӘ 123456"
    assert decode_text(0, b"STOP 1\x1b\x65") == "STOP 1€"  # GSM 7-bit, one septet per octet, an escape
    assert decode_text(0, b"\x00\x11") == "@_"
    assert decode_text(3, "café".encode("latin-1")) == "café"


def test_inbound_concatenation_headers():
    concat, body = split_udh(0x40, bytes([5, 0, 3, 7, 2, 1]) + b"ab")
    assert concat is not None and (concat.reference, concat.total, concat.number) == (7, 2, 1) and body == b"ab"
    concat, body = split_udh(0x40, bytes([6, 8, 4, 1, 2, 3, 2]) + b"cd")  # a 16-bit reference
    assert concat is not None and (concat.reference, concat.total, concat.number) == (258, 3, 2) and body == b"cd"
    assert split_udh(0, b"plain") == (None, b"plain")


def test_receipts_from_the_text_and_from_tlvs():
    text = b"id:0A1B2C sub:001 dlvrd:001 submit date:2612080100 done date:2612080101 stat:DELIVRD err:000 text:"
    receipt = parse_receipt(text, {})
    assert receipt is not None and (receipt.gateway_id, receipt.status, receipt.reason) == ("0A1B2C", "delivered", None)
    failed = parse_receipt(b"id:77 stat:UNDELIV err:011", {})
    assert failed is not None and failed.status == "failed" and failed.reason == "SMSC receipt UNDELIV err:011"
    by_tlv = parse_receipt(b"", {0x001E: b"xyz\0", 0x0427: bytes([2])})
    assert by_tlv is not None and (by_tlv.gateway_id, by_tlv.status) == ("xyz", "delivered")
    assert parse_receipt(b"id:77 stat:ENROUTE", {}) is None  # not final yet
    assert parse_receipt(b"stat:DELIVRD", {}) is None        # no id to find the message by


def test_sender_addresses():
    assert address_of("Qyzmet") == ("Qyzmet", 5, 0)
    assert address_of("+77010000000") == ("77010000000", 1, 1)
    assert address_of("1414") == ("1414", 3, 0)


SMPP = dict(_env_file=None, sms_gateway="smpp", smpp_host="smsc.example.kz", smpp_system_id="qyzmet",
            smpp_password="pw-Sec9x", smpp_source="Qyzmet")


def test_smpp_settings_and_the_password_is_a_secret():
    settings = load_settings(**SMPP)
    assert settings.smpp_port == 2775 and "pw-Sec9x" in settings.secret_values()  # the logs mask it


@pytest.mark.parametrize("change, named", [
    ({"smpp_host": ""}, "QYZMET_SMPP_HOST"), ({"smpp_source": None}, "QYZMET_SMPP_SOURCE"),
    ({"smpp_password": "pw-Sec9x-and-longer"}, "QYZMET_SMPP_PASSWORD"),
    ({"smpp_system_id": "a-system-id-too-long"}, "QYZMET_SMPP_SYSTEM_ID"),
    ({"smpp_source": "QyzmetHealthKZ"}, "QYZMET_SMPP_SOURCE"), ({"smpp_port": 0}, "QYZMET_SMPP_PORT"),
    ({"sms_gateway_url": "https://sms.example.kz/send"}, "QYZMET_SMS_GATEWAY_URL"),
])
def test_bad_smpp_settings_are_named_without_the_password(change, named):
    with pytest.raises(ConfigError) as refused:
        load_settings(**{**SMPP, **change})
    text = str(refused.value)
    assert named in text
    assert "pw-Sec9x" not in text

