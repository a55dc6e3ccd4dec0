"""What goes inside SMPP 3.4 PDUs, without any I/O: texts as UCS-2 parts with a concatenation header, the texts
of inbound messages in the codings phones use, and delivery receipts.

Outbound texts are always UCS-2 (``data_coding`` 8): every Kazakh or Russian letter needs it anyway, and the
meaning of ``data_coding`` 0 (the "SMSC default alphabet") differs from one SMSC to the next. Up to 70 UTF-16
units go as one SMS; a longer text as parts of at most 67 units, each behind a 6-byte user data header
(IE 0x00: reference, total, number) with the UDHI bit set in ``esm_class``, so that the phone shows it whole.
A surrogate pair (an emoji) is never cut between two parts, as bot/domain/sms_segments.py counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UCS2 = 8
ESM_UDHI = 0x40
_SINGLE, _PER_PART = 70, 67

# GSM 03.38 default alphabet in code order (0x1B, the escape to the extension table, is a placeholder here).
_GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
                   0x40: "|", 0x65: "€"}
assert len(_GSM7) == 128


@dataclass(frozen=True)
class Part:
    """One ``submit_sm``'s ``esm_class`` and ``short_message`` (the header, if any, included)."""
    esm_class: int
    short_message: bytes


def ucs2_parts(text: str, reference: int) -> list[Part]:
    """``text`` as the submits that carry it; ``reference`` (0-255) ties the parts of one send together."""
    units = text.encode("utf-16-be")
    if len(units) // 2 <= _SINGLE:
        return [Part(0, units)]
    chunks: list[bytes] = []
    start = 0
    while start < len(units):
        end = min(start + 2 * _PER_PART, len(units))
        if end < len(units) and 0xD8 <= units[end - 2] <= 0xDB:  # a high surrogate: keep the pair together
            end -= 2
        chunks.append(units[start:end])
        start = end
    if len(chunks) > 255:
        raise ValueError("text too long for one concatenated SMS")
    header = bytes([5, 0x00, 3, reference & 0xFF, len(chunks)])
    return [Part(ESM_UDHI, header + bytes([number]) + chunk) for number, chunk in enumerate(chunks, 1)]


@dataclass(frozen=True)
class Concatenation:
    """Where an inbound part belongs: its message's reference, the number of parts, and its own number."""
    reference: int
    total: int
    number: int


def split_udh(esm_class: int, short_message: bytes) -> tuple[Concatenation | None, bytes]:
    """The concatenation header of an inbound message (8- or 16-bit reference), and the text's bytes."""
    if not esm_class & ESM_UDHI or not short_message:
        return None, short_message
    length = short_message[0]
    header, body = short_message[1:1 + length], short_message[1 + length:]
    at = 0
    concat = None
    while at + 2 <= len(header):
        ie, size = header[at], header[at + 1]
        value = header[at + 2:at + 2 + size]
        if ie == 0x00 and size == 3:
            concat = Concatenation(value[0], value[1], value[2])
        elif ie == 0x08 and size == 4:
            concat = Concatenation(int.from_bytes(value[:2], "big"), value[2], value[3])
        at += 2 + size
    return concat, body


def decode_text(data_coding: int, data: bytes) -> str:
    """The text of an inbound message: UCS-2, GSM 7-bit (one septet per octet, as SMPP carries it), Latin-1."""
    if data_coding == UCS2:
        return data[: len(data) // 2 * 2].decode("utf-16-be", errors="replace")
    if data_coding in (3, 1):  # Latin-1; IA5 (ASCII) is a subset of it
        return data.decode("latin-1")
    out: list[str] = []
    escaped = False
    for byte in data:
        septet = byte & 0x7F
        if escaped:
            out.append(_GSM7_EXTENSION.get(septet, " "))
            escaped = False
        elif septet == 0x1B:
            escaped = True
        else:
            out.append(_GSM7[septet])
    return "".join(out)


# Receipt states (SMPP 3.4 appendix B's "stat" words and the message_state TLV), final ones only: ENROUTE,
# ACCEPTD and UNKNOWN say nothing yet.
_FINAL_WORDS = {"DELIVRD": "delivered", "UNDELIV": "failed", "EXPIRED": "failed", "DELETED": "failed",
                "REJECTD": "failed"}
_FINAL_STATES = {2: "delivered", 3: "failed", 4: "failed", 5: "failed", 8: "failed"}
_STATE_WORDS = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 8: "REJECTD"}
_ID = re.compile(r"\bid:(\S+)", re.IGNORECASE)
_STAT = re.compile(r"\bstat:(\w+)", re.IGNORECASE)
_ERR = re.compile(r"\berr:(\w+)", re.IGNORECASE)

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F

ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04


@dataclass(frozen=True)
class Receipt:
    """A final delivery receipt: the SMSC's id of the part, delivered or failed, and why (for failed)."""
    gateway_id: str
    status: str
    reason: str | None


def parse_receipt(short_message: bytes, tlvs: dict[int, bytes]) -> Receipt | None:
    """The receipt a ``deliver_sm`` carries; None for an intermediate one or one without an id. The TLVs
    (receipted_message_id, message_state) win over the text, which SMSCs format each their own way."""
    text = short_message.decode("latin-1")
    gateway_id = tlvs[TLV_RECEIPTED_MESSAGE_ID].rstrip(b"\0").decode("latin-1") \
        if tlvs.get(TLV_RECEIPTED_MESSAGE_ID) else None
    if not gateway_id:
        found = _ID.search(text)
        gateway_id = found.group(1) if found else None
    word: str | None = None
    status: str | None = None
    if tlvs.get(TLV_MESSAGE_STATE):
        state = tlvs[TLV_MESSAGE_STATE][0]
        status, word = _FINAL_STATES.get(state), _STATE_WORDS.get(state)
    if status is None:
        found = _STAT.search(text)
        word = found.group(1).upper() if found else None
        status = _FINAL_WORDS.get(word or "")
    if not gateway_id or status is None:
        return None
    reason = None
    if status == "failed":
        err = _ERR.search(text)
        reason = f"SMSC receipt {word}" + (f" err:{err.group(1)}" if err else "")
    return Receipt(gateway_id, status, reason)
