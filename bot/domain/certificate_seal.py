"""The signed payload in a certificate's QR code: exactly the fields printed on the page, checkable offline.

Whoever holds the paper (or the PDF) can scan the QR code and check, with nothing but the issuer's public key
(published as a JWK set), that the printed name, dates and mark are the ones issued. It is a COSE_Sign1
(RFC 9052) with ES256 over a CBOR map with small integer keys, written as base64url without padding so that
it fits in the query of a URL and in a QR code that still scans from paper.

The COSE structure is built here with cbor2 and cryptography rather than with pycose: a COSE_Sign1 is a
tagged four-element array and its signed bytes one more CBOR array (RFC 9052 §4.4), a few lines; pycose would
add its own key classes and the pure-Python ``ecdsa`` package for the same ES256 that cryptography does, and
its decoder is lenient about what it accepts, while a verifier of untrusted scans should refuse anything that
is not exactly the shape issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

__all__ = ["SERVICES", "VERSION", "BadSeal", "SealedCertificate", "kid_of", "seal", "unseal"]

VERSION = 1
# The services a certificate is issued for, as one small integer each in the payload (a name would cost a
# dozen bytes of QR code). Never renumbered: only appended to.
SERVICES = {"tb_info": 1, "psychiatry_info": 2, "narcology_info": 3}
_SERVICE_CODES = {number: code for code, number in SERVICES.items()}

# Payload keys.
_V, _NUMBER, _SERVICE, _ISSUED, _VALID, _NAME, _BIRTH, _ADDRESS, _OBSERVED, _SOURCE = range(10)
_KEYS = frozenset(range(10))

_COSE_SIGN1_TAG = 18
_ALG, _KID = 1, 4  # COSE header labels
_ES256 = -7
_SIGNATURE_SIZE = 64  # r || s, 32 bytes each (RFC 9053 §2.1), not DER
_MAX_TOKEN = 4096  # characters: far above any certificate, low enough that nobody makes us decode megabytes
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class BadSeal(Exception):
    """The token is not a seal issued with one of the given keys, or not of this version and shape."""


@dataclass(frozen=True)
class SealedCertificate:
    """The fields a certificate prints, as the QR code vouches for them. Times are to the second."""
    number: str
    service: str          # tb_info | psychiatry_info | narcology_info
    issued_at: datetime   # aware
    valid_until: datetime  # aware
    full_name: str
    birth_date: str       # ISO date, or "" when the directory has none
    address: str
    observed: bool
    source_system: str


def kid_of(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The key's id in the seal's header and in the JWK set: the first 8 bytes of SHA-256 of its
    SubjectPublicKeyInfo, so that a key rolled over later is told apart without a registry of names."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def seal(fields: SealedCertificate, private_key: ec.EllipticCurvePrivateKey, kid: bytes) -> str:
    """The base64url (no padding) COSE_Sign1 of ``fields``, signed with ``private_key`` (P-256)."""
    if fields.service not in SERVICES:
        raise ValueError(f"no seal for service {fields.service!r}")
    payload = cbor2.dumps({
        _V: VERSION, _NUMBER: fields.number, _SERVICE: SERVICES[fields.service],
        _ISSUED: _seconds(fields.issued_at), _VALID: _seconds(fields.valid_until), _NAME: fields.full_name,
        _BIRTH: fields.birth_date, _ADDRESS: fields.address, _OBSERVED: bool(fields.observed),
        _SOURCE: fields.source_system,
    })
    protected = cbor2.dumps({_ALG: _ES256, _KID: kid})
    der = _sign(private_key, _to_be_signed(protected, payload))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    token = cbor2.dumps(cbor2.CBORTag(_COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def unseal(token: str, public_keys: Mapping[bytes, ec.EllipticCurvePublicKey]) -> SealedCertificate:
    """The fields of a seal made with one of ``public_keys`` (by kid); BadSeal for anything else."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or not _BASE64URL.fullmatch(token):
        raise BadSeal("not base64url")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise BadSeal("not base64url") from None
    message = _strict_cbor(raw)
    if not (isinstance(message, cbor2.CBORTag) and message.tag == _COSE_SIGN1_TAG):
        raise BadSeal("not a COSE_Sign1")
    parts = message.value
    if not (isinstance(parts, list | tuple) and len(parts) == 4):  # cbor2 gives a tagged array as a tuple
        raise BadSeal("not a COSE_Sign1")
    protected, unprotected, payload, signature = parts
    if not (isinstance(protected, bytes) and unprotected == {} and isinstance(payload, bytes)
            and isinstance(signature, bytes) and len(signature) == _SIGNATURE_SIZE):
        raise BadSeal("not a COSE_Sign1")
    header = _strict_cbor(protected)
    if not isinstance(header, dict) or header.get(_ALG) != _ES256 or not isinstance(header.get(_KID), bytes):
        raise BadSeal("not ES256 with a kid")
    key = public_keys.get(header[_KID])
    if key is None:
        raise BadSeal("unknown key")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, _to_be_signed(protected, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BadSeal("bad signature") from None
    return _fields(_strict_cbor(payload))


def _to_be_signed(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 Sig_structure, with no external data."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Deterministic ECDSA (RFC 6979) where this cryptography and OpenSSL have it: the same certificate gives
    the same QR code each time it is rendered. Random nonces are as good a signature otherwise."""
    try:
        return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except (UnsupportedAlgorithm, TypeError):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _strict_cbor(data: bytes) -> Any:
    """One CBOR item and nothing after it."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, EOFError):
        raise BadSeal("not CBOR") from None
    if stream.tell() != len(data):
        raise BadSeal("trailing bytes")
    return item


def _fields(payload: Any) -> SealedCertificate:
    if not isinstance(payload, dict) or set(payload) != _KEYS:
        raise BadSeal("not a certificate payload")
    if not _is_int(payload[_V]) or payload[_V] != VERSION:
        raise BadSeal("unknown version")
    strings = (_NUMBER, _NAME, _BIRTH, _ADDRESS, _SOURCE)
    if not all(isinstance(payload[k], str) for k in strings) or not isinstance(payload[_OBSERVED], bool):
        raise BadSeal("wrong field types")
    if not (_is_int(payload[_ISSUED]) and _is_int(payload[_VALID]) and _is_int(payload[_SERVICE])):
        raise BadSeal("wrong field types")
    service = _SERVICE_CODES.get(payload[_SERVICE])
    if service is None:
        raise BadSeal("unknown service")
    birth = payload[_BIRTH]
    if birth:
        try:
            date.fromisoformat(birth)
        except ValueError:
            raise BadSeal("wrong birth date") from None
    try:
        issued = datetime.fromtimestamp(payload[_ISSUED], UTC)
        valid = datetime.fromtimestamp(payload[_VALID], UTC)
    except (OverflowError, OSError, ValueError):
        raise BadSeal("wrong times") from None
    return SealedCertificate(number=payload[_NUMBER], service=service, issued_at=issued, valid_until=valid,
                             full_name=payload[_NAME], birth_date=birth, address=payload[_ADDRESS],
                             observed=payload[_OBSERVED], source_system=payload[_SOURCE])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a certificate's times are aware")
    return int(moment.timestamp())
