"""The verification code of a «Сведения/Мәлімет» certificate: a keyed hash anyone can check through the bot,
without the bot keeping any medical status.

The code is an HMAC (the settings' secret key) over the certificate's fields — number, IIN, issue time,
service, source system — and deliberately NOT over the observation mark: whoever holds only the number and the
code (dictated by phone, read off a photo) learns that the certificate was issued, when, about whom (masked)
and until when, and nothing of the mark, whatever they try. The mark is vouched for by the signed payload in the
certificate's QR code (bot/domain/certificate_seal.py) and shown by the holder's share links.

Ten characters of Crockford's base32 (50 bits) cannot be guessed within the rate limit of wrong tries; the
alphabet has no I, L, O or U, so what is read off paper is forgiving (O is read as 0, I and L as 1).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CODE_LENGTH", "VALIDITY", "CodeFields", "certificate_code", "format_code", "normalize_code", "same_code",
           "valid_until"]

# Standard item 11 of the S1–S3 rules: «Қолданылу мерзімі – күнтізбелік 10 күн».
VALIDITY = timedelta(days=10)

CODE_LENGTH = 10
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u00a0.]")
_DOMAIN = b"qyzmet/certificate-code/v2"  # the key may sign other things: this hash is for this only
# Certificates issued before v2 carry a code over the mark too; they stay checkable until their 10 days end
# (CodeFields.observed set), and the check answers them exactly as a v2 code, never naming the mark.
_DOMAIN_V1 = b"qyzmet/certificate-code/v1"


@dataclass(frozen=True)
class CodeFields:
    """What the code vouches for. ``issued_at`` is kept to the second (as the store keeps it). ``observed`` is
    set only to recompute a v1 code (issued before the mark left the code)."""
    number: str
    iin: str
    issued_at: datetime
    service: str
    source_system: str
    observed: bool | None = None

    def message(self) -> bytes:
        issued = self.issued_at.astimezone(UTC).replace(microsecond=0).isoformat()
        if self.observed is None:
            parts: tuple[str, ...] = (self.number, self.iin, issued, self.service, self.source_system)
            domain = _DOMAIN
        else:
            parts = (self.number, self.iin, issued, "1" if self.observed else "0", self.service, self.source_system)
            domain = _DOMAIN_V1
        # Unit separators between the fields: no field can run into the next one and mean something else.
        return domain + b"\x1f" + "\x1f".join(parts).encode("utf-8")


def certificate_code(key: bytes, fields: CodeFields) -> str:
    """The code printed on the certificate, without separators (``format_code`` groups it for people)."""
    digest = hmac.new(key, fields.message(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big") >> (64 - 5 * CODE_LENGTH)
    return "".join(_ALPHABET[(value >> (5 * (CODE_LENGTH - 1 - i))) & 31] for i in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """ABCDE-FGHJK: two groups of five are easier to read out and type."""
    return f"{code[:5]}-{code[5:]}"


def normalize_code(text: str) -> str | None:
    """The code as typed or read off paper ("abcde fghjk", "ABCDE-FGHJK", O for 0), or None when it cannot be
    a code at all (a wrong code of the right shape is for the check to find)."""
    compact = _SEPARATORS.sub("", text[:40]).upper().translate(_READ_AS)
    if len(compact) != CODE_LENGTH or any(ch not in _ALPHABET for ch in compact):
        return None
    return compact


def same_code(given: str, expected: str) -> bool:
    """Constant time, so that the answer's timing says nothing about how much of a code was right."""
    return hmac.compare_digest(given.encode(), expected.encode())


def valid_until(issued_at: datetime) -> datetime:
    """The end of the 10 calendar days the information is valid for, counted from the moment it was issued."""
    return issued_at + VALIDITY
