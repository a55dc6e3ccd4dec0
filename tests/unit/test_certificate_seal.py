"""The signed payload of a certificate's QR code (bot/domain/certificate_seal.py) and the issuer that makes it
(bot/gateways/issuer.py): what it vouches for, what it refuses, and the offline check with the published key."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from bot.config import Settings
from bot.domain.certificate_seal import BadSeal, SealedCertificate, _sign, _to_be_signed, kid_of, seal, unseal
from bot.gateways.issuer import Issuer

ISSUED = datetime(2026, 11, 25, 9, 30, 15, tzinfo=UTC)
FIELDS = SealedCertificate(
    number="QZ-261125-0482913", service="tb_info", issued_at=ISSUED, valid_until=ISSUED + timedelta(days=10),
    full_name="Әбдіқадырова Гауһар Асқарқызы", birth_date="2002-09-18",
    address="Қарағанды қ., Бұқар жырау даңғылы, 33, 5-пәтер", observed=True, source_system="Фтизиатрия")
KEY = ec.derive_private_key(0x5EA1, ec.SECP256R1())
KID = kid_of(KEY.public_key())
KEYS = {KID: KEY.public_key()}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def parts(token: str) -> list:
    message = cbor2.loads(unb64(token))
    assert message.tag == 18  # a tagged COSE_Sign1
    return list(message.value)


def rebuilt(protected: bytes, payload: bytes, signature: bytes, unprotected: object = None) -> str:
    return b64(cbor2.dumps(cbor2.CBORTag(18, [protected, {} if unprotected is None else unprotected, payload,
                                              signature])))


def test_a_seal_gives_back_exactly_its_fields():
    token = seal(FIELDS, KEY, KID)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # URL-safe as is
    assert unseal(token, KEYS) == FIELDS
    for observed, birth in ((False, ""), (True, "1990-01-31")):
        other = replace(FIELDS, observed=observed, birth_date=birth, service="narcology_info")
        assert unseal(seal(other, KEY, KID), KEYS) == other


def test_the_payload_is_compact_and_its_header_names_es256_and_the_key():
    token = seal(FIELDS, KEY, KID)
    protected, unprotected, payload, signature = parts(token)
    assert cbor2.loads(protected) == {1: -7, 4: KID} and unprotected == {}
    assert len(signature) == 64 and len(KID) == 8
    fields = cbor2.loads(payload)
    assert fields[0] == 1 and all(isinstance(k, int) for k in fields)  # a version, small integer keys
    assert len(token) < 420  # a QR code of version ~16 at level M with the URL around it


PAYLOAD_CHANGES = {
    1: "QZ-261125-0482914", 2: 3, 3: int(ISSUED.timestamp()) + 1, 4: int(ISSUED.timestamp()) + 11 * 86400,
    5: "Әбдіқадырова Гауһар", 6: "2002-09-19", 7: "Астана қ.", 8: False, 9: "Наркология",
}


@pytest.mark.parametrize("key", sorted(PAYLOAD_CHANGES))
def test_any_field_changed_in_the_payload_breaks_the_seal(key):
    protected, _, payload, signature = parts(seal(FIELDS, KEY, KID))
    fields = cbor2.loads(payload)
    assert fields[key] != PAYLOAD_CHANGES[key]
    fields[key] = PAYLOAD_CHANGES[key]
    with pytest.raises(BadSeal):
        unseal(rebuilt(protected, cbor2.dumps(fields), signature), KEYS)


def test_a_seal_by_another_key_or_under_another_kid_fails():
    other = ec.generate_private_key(ec.SECP256R1())
    # Signed by another key but claiming ours.
    with pytest.raises(BadSeal):
        unseal(seal(FIELDS, other, KID), KEYS)
    # Our signature under another key's id: no such key.
    protected, _, payload, signature = parts(seal(FIELDS, KEY, KID))
    header = cbor2.loads(protected)
    header[4] = kid_of(other.public_key())
    with pytest.raises(BadSeal, match="unknown key"):
        unseal(rebuilt(cbor2.dumps(header), payload, signature), KEYS)
    # A kid we know, but another key behind it.
    with pytest.raises(BadSeal):
        unseal(seal(FIELDS, KEY, KID), {KID: other.public_key()})


def test_the_version_and_the_field_types_are_checked_even_when_signed():
    def signed(fields: dict) -> str:
        token = seal(FIELDS, KEY, KID)
        protected, _, _, _ = parts(token)
        # Sign the altered payload for real: what is refused is its shape, not the signature.
        payload = cbor2.dumps(fields)
        r, s = decode_dss_signature(_sign(KEY, _to_be_signed(protected, payload)))
        return rebuilt(protected, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    good = cbor2.loads(parts(seal(FIELDS, KEY, KID))[2])
    assert unseal(signed(good), KEYS) == FIELDS
    for change in ({0: 2}, {8: 1}, {3: "2026-11-25"}, {1: 482913}, {2: 9}, {6: "18.09.2002"}, {5: b"bytes"},
                   {3: True}):
        with pytest.raises(BadSeal):
            unseal(signed(good | change), KEYS)
    with pytest.raises(BadSeal):
        unseal(signed({k: v for k, v in good.items() if k != 7}), KEYS)  # a field missing
    with pytest.raises(BadSeal):
        unseal(signed(good | {10: "extra"}), KEYS)  # a field too many


@pytest.mark.parametrize("token", [
    "", "!!!!", "abc=", "a" * 5000, b64(b"\xff\x00"), b64(cbor2.dumps([1, 2, 3, 4])), b64(cbor2.dumps("text")),
    b64(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""]))), b64(cbor2.dumps(cbor2.CBORTag(98, []))),
])
def test_garbage_is_a_bad_seal(token):
    with pytest.raises(BadSeal):
        unseal(token, KEYS)


def test_trailing_bytes_and_an_unprotected_header_are_refused():
    token = seal(FIELDS, KEY, KID)
    with pytest.raises(BadSeal):
        unseal(b64(unb64(token) + b"\x00"), KEYS)
    protected, _, payload, signature = parts(token)
    with pytest.raises(BadSeal):
        unseal(rebuilt(protected, payload, signature, unprotected={4: b"x"}), KEYS)
    with pytest.raises(BadSeal):
        unseal(rebuilt(cbor2.dumps({1: -35, 4: KID}), payload, signature), KEYS)  # not ES256


def test_the_issuer_seals_and_its_published_key_alone_checks_offline():
    issuer = Issuer.from_settings(Settings(database=":memory:", secret_key="seal-test"))
    token = issuer.seal(FIELDS)
    assert issuer.unseal(token) == FIELDS
    # What a checker has: the JWK set the bot publishes, nothing else.
    (jwk,) = issuer.jwks()["keys"]
    assert {k: jwk[k] for k in ("kty", "crv", "alg", "use")} == {"kty": "EC", "crv": "P-256", "alg": "ES256",
                                                                 "use": "sig"}
    public = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64(jwk["x"]), "big"),
                                           int.from_bytes(unb64(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    assert unb64(jwk["kid"]) == kid_of(public) == issuer.kid
    assert unseal(token, {unb64(jwk["kid"]): public}) == FIELDS
    with pytest.raises(BadSeal):
        unseal(seal(FIELDS, KEY, KID), {unb64(jwk["kid"]): public})


def test_replicas_sharing_the_secret_key_are_one_issuer():
    one = Issuer.from_settings(Settings(database=":memory:", secret_key="shared"))
    two = Issuer.from_settings(Settings(database=":memory:", secret_key="shared"), b"shared")
    other = Issuer.from_settings(Settings(database=":memory:", secret_key="another"))
    assert one.jwks() == two.jwks() != other.jwks()
    assert one.certificate_pem() == two.certificate_pem()
    assert two.unseal(one.seal(FIELDS)) == FIELDS
    with pytest.raises(BadSeal):
        other.unseal(one.seal(FIELDS))
    subject = one.certificate.subject.rfc4514_string()
    assert subject == "C=KZ,O=Qyzmet,CN=Qyzmet demo issuer"
    assert one.certificate.not_valid_before_utc == datetime(2026, 1, 1, tzinfo=UTC)
    assert one.certificate.not_valid_after_utc == datetime(2036, 1, 1, tzinfo=UTC)
