"""The certificate issuer: the key and X.509 certificate that sign every «Сведения/Мәлімет» — its PDF (PAdES)
and the payload in its QR code (bot/domain/certificate_seal.py).

QYZMET_SIGNING_KEY and QYZMET_SIGNING_CERT name a real pair (a PEM file each, or the PEM text itself). Without
them the key is derived from QYZMET_SECRET_KEY, so that every replica sharing that secret signs as the same
issuer and a QR code made by one is verified by another, and a self-signed certificate is made for it: a demo
issuer, which a checker trusts only by its published public key.

Built once per process (Services): loading or deriving the key and building the certificate cost a few
milliseconds, signing a PDF some tens.
"""

from __future__ import annotations

import base64
import hashlib
import io
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from bot.config import ConfigError, Settings
from bot.domain.certificate_seal import SealedCertificate, kid_of, seal, unseal

with warnings.catch_warnings():
    # pyHanko imports cryptography's DSA types, which cryptography now marks deprecated on import; we sign with
    # ECDSA only, and the warning would otherwise be printed by every process that starts.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*DSA.*")
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields as sig_fields
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = ["DEMO_SUBJECT", "Issuer"]

_HKDF_INFO = b"qyzmet/issuer-key/v1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
DEMO_SUBJECT = x509.Name([
    x509.NameAttribute(NameOID.COMMON_NAME, "Qyzmet demo issuer"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Qyzmet"),
    x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
])
_DEMO_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_DEMO_UNTIL = datetime(2036, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, eq=False)
class Issuer:
    """The issuing key (ECDSA P-256) and its certificate."""
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    kid: bytes = field(init=False)
    _signer: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        public = self.private_key.public_key()
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if public.public_bytes(*spki) != self.certificate.public_key().public_bytes(*spki):
            raise ConfigError("QYZMET_SIGNING_CERT is not the certificate of QYZMET_SIGNING_KEY "
                              "(their public keys differ)")
        object.__setattr__(self, "kid", kid_of(public))
        key_der = self.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())
        cert = asn1_x509.Certificate.load(self.certificate.public_bytes(serialization.Encoding.DER))
        object.__setattr__(self, "_signer", signers.SimpleSigner(
            signing_cert=cert, signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([cert])))

    @classmethod
    def from_settings(cls, settings: Settings, secret_key: bytes | None = None) -> Issuer:
        """QYZMET_SIGNING_KEY/CERT when set; otherwise the demo issuer derived from the secret key
        (``secret_key``: the one already resolved, else ``settings.resolved_secret_key()``)."""
        if settings.signing_key and settings.signing_cert:
            return _configured(settings.signing_key, settings.signing_cert)
        if settings.signing_key or settings.signing_cert:  # Settings refuses this too; kept for direct callers
            raise ConfigError("QYZMET_SIGNING_KEY and QYZMET_SIGNING_CERT are set together, or neither")
        return _derived(secret_key if secret_key is not None else settings.resolved_secret_key())

    # The QR code's payload -------------------------------------------------------------------------------

    def seal(self, fields: SealedCertificate) -> str:
        return seal(fields, self.private_key, self.kid)

    def unseal(self, token: str) -> SealedCertificate:
        """BadSeal unless ``token`` was sealed by this issuer."""
        return unseal(token, {self.kid: self.private_key.public_key()})

    # The PDF -------------------------------------------------------------------------------------------------

    def sign_pdf(self, data: bytes) -> bytes:
        """``data`` with a PAdES signature (field "Signature", this certificate embedded) over the whole file.
        Synchronous and CPU-bound (pyHanko runs its own event loop inside): call it in a worker thread."""
        meta = signers.PdfSignatureMetadata(field_name="Signature", subfilter=sig_fields.SigSeedSubFilter.PADES,
                                            md_algorithm="sha256")
        writer = IncrementalPdfFileWriter(io.BytesIO(data))
        out = signers.sign_pdf(writer, meta, signer=self._signer)
        return bytes(out.getbuffer())

    # What a checker needs ------------------------------------------------------------------------------------

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public key as a JWK set (RFC 7517/7518): all a checker needs to verify a QR code offline."""
        numbers = self.private_key.public_key().public_numbers()
        return {"keys": [{
            "kty": "EC", "crv": "P-256", "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")), "kid": _b64url(self.kid), "alg": "ES256", "use": "sig",
        }]}

    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pem(value: str, variable: str) -> bytes:
    """The PEM text itself, or the contents of the file it names."""
    if "-----BEGIN" in value:
        return value.encode()
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {value}: {exc.strerror or type(exc).__name__}",
                          "Give the path of a PEM file, or the PEM text itself.") from None


def _configured(key_value: str, cert_value: str) -> Issuer:
    try:
        key = serialization.load_pem_private_key(_pem(key_value, "QYZMET_SIGNING_KEY"), password=None)
    except (ValueError, TypeError):
        # Never the exception's text: it could quote part of the key.
        raise ConfigError("QYZMET_SIGNING_KEY: not an unencrypted PEM private key") from None
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise ConfigError("QYZMET_SIGNING_KEY: must be an ECDSA P-256 key (the QR payload is signed with ES256)")
    try:
        cert = x509.load_pem_x509_certificate(_pem(cert_value, "QYZMET_SIGNING_CERT"))
    except ValueError:
        raise ConfigError("QYZMET_SIGNING_CERT: not a PEM X.509 certificate") from None
    return Issuer(key, cert)


@lru_cache(maxsize=8)
def _derived(secret: bytes) -> Issuer:
    """The demo issuer of ``secret``: the same key and certificate, byte for byte, on every replica."""
    okm = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=_HKDF_INFO).derive(secret)
    # 384 bits reduced modulo the group order: a scalar in [1, n-1] with negligible bias (FIPS 186-5 A.2.1).
    scalar = int.from_bytes(okm, "big") % (_P256_ORDER - 1) + 1
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(DEMO_SUBJECT).issuer_name(DEMO_SUBJECT)
        .public_key(public)
        .serial_number(int.from_bytes(hashlib.sha256(b"serial" + kid_of(public)).digest()[:16], "big") >> 1)
        .not_valid_before(_DEMO_FROM).not_valid_after(_DEMO_UNTIL)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    try:
        cert = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    except (TypeError, UnsupportedAlgorithm):  # an older cryptography or OpenSSL: a random nonce is as valid
        cert = builder.sign(key, hashes.SHA256())
    return Issuer(key, cert)
