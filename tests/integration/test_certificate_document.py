"""The certificate as a document: one bilingual A4 page (handlers/certificate_pdf.py), signed by the issuer
(bot/gateways/issuer.py), checked the way a recipient checks it — pyHanko's validator with the issuer's
certificate as the only trust root, and the QR code read off a rendering of the page and verified with
nothing but the published public key."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pypdfium2
import pytest
import zxingcpp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pypdf import PdfReader

from bot.config import ConfigError, Settings, load_settings
from bot.core.registry_info import Certificate
from bot.domain.calendar import ALMATY
from bot.domain.certificate_seal import SealedCertificate, kid_of, unseal
from bot.gateways.issuer import Issuer
from bot.i18n import Texts
from handlers.certificate_pdf import render_pdf

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*DSA.*")
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

TEXTS = Texts.load()
BASE = "https://qyzmet.example.kz"
ISSUED = datetime(2026, 11, 25, 9, 30, 15, 654321, tzinfo=UTC)


def certificate(service: str = "tb_info", observed: bool = True, **changes: object) -> Certificate:
    c = Certificate(number="QZ-261125-0482913", service=service, issued_at=ISSUED,
                    full_name="Әбдіқадырова Гауһар Асқарқызы", birth_date="2002-09-18",
                    address="Қарағанды қ., Бұқар жырау даңғылы, 33, 5-пәтер", observed=observed,
                    source_system="Фтизиатрия", code="7KQ2M-X9D4A",
                    verify_url=f"{BASE}/verify?number=QZ-261125-0482913&code=7KQ2M-X9D4A")
    return replace(c, **changes)


def sealed_pdf(issuer: Issuer, lang: str, c: Certificate) -> bytes:
    """What the delivery sends (handlers/telegram/delivery.py): the page with its seal's QR code, signed."""
    c = replace(c, seal_url=f"{BASE}/verify?p={issuer.seal(c.sealed())}")
    return issuer.sign_pdf(render_pdf(TEXTS, lang, c))


def validate(data: bytes, trust: x509.Certificate):
    (embedded,) = PdfFileReader(io.BytesIO(data)).embedded_signatures
    root = asn1_x509.Certificate.load(trust.public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    return embedded, validate_pdf_signature(embedded, context)


def page_text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def qr_url(data: bytes) -> str:
    image = pypdfium2.PdfDocument(data)[0].render(scale=3).to_pil()
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1, codes
    return codes[0].text


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def offline_keys(issuer: Issuer) -> dict[bytes, ec.EllipticCurvePublicKey]:
    """The checker's view: the public key rebuilt from the published JWK set, nothing else."""
    (jwk,) = issuer.jwks()["keys"]
    public = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64(jwk["x"]), "big"),
                                           int.from_bytes(unb64(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    return {unb64(jwk["kid"]): public}


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.from_settings(Settings(database=":memory:", secret_key="document-test"))


def balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_signed_page_validates_and_any_changed_byte_breaks_it(issuer, lang):
    data = sealed_pdf(issuer, lang, certificate())
    embedded, status = validate(data, issuer.certificate)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert embedded.field_name == "Signature"
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert embedded.signer_cert.dump() == issuer.certificate.public_bytes(serialization.Encoding.DER)

    # One byte changed inside the signed range (in the page's content stream, before the signature).
    start = data.index(b"stream", data.index(b"/Contents")) + 40
    assert start < embedded.byte_range[1]
    forged = bytearray(data)
    forged[start] ^= 0x01
    _, broken = validate(bytes(forged), issuer.certificate)
    # The document's digest no longer matches (``valid`` is the CMS signature over the signed attributes).
    assert not broken.intact and not broken.bottom_line

    # Another issuer's certificate as the trust root: intact, but not trusted.
    other = Issuer.from_settings(Settings(database=":memory:", secret_key="another issuer"))
    _, untrusted = validate(data, other.certificate)
    assert untrusted.intact and not untrusted.trusted


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("service", ["tb_info", "psychiatry_info", "narcology_info"])
def test_one_bilingual_page_with_the_form_the_rules_give(issuer, lang, service):
    c = certificate(service, observed=service != "narcology_info")
    data = sealed_pdf(issuer, lang, c)
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    text = page_text(data)
    for key in ("form.issue_date", "form.full_name", "form.birth_date", "form.address", "form.validity",
                f"service.{service}.observed_label", "doc.issuer", f"doc.register.{service}", "doc.number_label",
                "doc.issue_time", "doc.valid_until", "cert.code_label"):
        for both in ("kk", "ru"):
            assert TEXTS(both, key) in text, (both, key)
    assert "Қазақстан Республикасы Денсаулық сақтау министрлігі" in text
    assert "Министерство здравоохранения Республики Казахстан" in text
    assert "Мәлімет нөмірі / Номер сведений" in text and "Номер запроса" not in text
    assert "Деректер «Фтизиатрия» ақпараттық жүйесімен берілген" in text
    assert "Данные предоставлены информационной системой «Фтизиатрия»" in text
    mark = ("тұрады / состоит" if c.observed else "тұрмайды / не состоит")
    assert f"{TEXTS('ru', f'service.{service}.observed_label')} {mark} " in text
    # The title: «Сведения/Мәлімет», then its subject in Kazakh and in Russian, every parenthesis closed.
    title = text[text.index("Сведения/Мәлімет"):text.index("Мәлімет нөмірі")]
    assert balanced(title) and title.count("(") >= 2, title
    for both in ("kk", "ru"):
        assert TEXTS(both, f"service.{service}.form_title").removeprefix("Сведения/Мәлімет ") in title
    local = ISSUED.astimezone(ALMATY)
    assert f"{local:%d.%m.%Y}" in text and f"{local:%H:%M:%S}" in text
    assert f"{local + timedelta(days=10):%d.%m.%Y %H:%M:%S}" in text
    assert "QZ-261125-0482913" in text and "7KQ2M-X9D4A" in text and "1414" in text
    assert f"{BASE}/verify" in text
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata is not None
    assert reader.metadata.title == TEXTS(lang, f"service.{service}.form_title")


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_qr_code_read_off_the_page_is_the_printed_fields_verified_offline(issuer, lang):
    c = certificate()
    data = sealed_pdf(issuer, lang, c)
    url = qr_url(data)
    assert url.startswith(f"{BASE}/verify?p=")
    (token,) = parse_qs(urlsplit(url).query)["p"]
    fields = unseal(token, offline_keys(issuer))
    assert fields == c.sealed()
    assert fields == SealedCertificate(
        number="QZ-261125-0482913", service="tb_info", issued_at=ISSUED.replace(microsecond=0),
        valid_until=ISSUED.replace(microsecond=0) + timedelta(days=10), full_name="Әбдіқадырова Гауһар Асқарқызы",
        birth_date="2002-09-18", address="Қарағанды қ., Бұқар жырау даңғылы, 33, 5-пәтер", observed=True,
        source_system="Фтизиатрия")
    # Each of them is what the page prints.
    text = page_text(data)
    local = fields.issued_at.astimezone(ALMATY)
    for printed in (fields.number, fields.full_name, fields.address, fields.source_system, "18.09.2002",
                    f"{local:%d.%m.%Y}", f"{local:%H:%M:%S}",
                    f"{fields.valid_until.astimezone(ALMATY):%d.%m.%Y %H:%M:%S}", "тұрады / состоит"):
        assert printed in text, printed


def test_a_long_address_shrinks_the_type_and_the_qr_code_still_scans(issuer):
    long = "Алматы облысы, Іле ауданы, Өтеген батыр кенті, Қазақстан көшесі, 120-үй, 45-пәтер " * 3
    c = certificate("psychiatry_info", full_name="Мұхаммедқалиев-Сұлтанбеков Ғалымжан Нұрсұлтанұлы",
                    address=long.strip())
    data = sealed_pdf(issuer, "ru", c)
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    (token,) = parse_qs(urlsplit(qr_url(data)).query)["p"]
    assert unseal(token, offline_keys(issuer)) == c.sealed()
    assert "Сұлтанбеков" in page_text(data)


def test_a_certificate_without_a_seal_keeps_the_verification_link_in_its_qr_code(issuer):
    c = certificate()
    data = render_pdf(TEXTS, "kk", c)
    assert qr_url(data) == c.verify_url


# QYZMET_SIGNING_KEY / QYZMET_SIGNING_CERT ------------------------------------------------------------------

def make_pair(tmp_path: Path, name: str = "Test issuer") -> tuple[Path, Path, x509.Certificate, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key_path, cert_path = tmp_path / "issuer.key", tmp_path / "issuer.crt"
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path, cert, key_pem


def test_a_configured_key_and_certificate_sign_the_pdf_and_the_qr_code(tmp_path):
    key_path, cert_path, cert, key_pem = make_pair(tmp_path)
    settings = Settings(database=":memory:", secret_key="x", signing_key=str(key_path), signing_cert=str(cert_path))
    issuer = Issuer.from_settings(settings)
    assert issuer.certificate == cert
    assert issuer.kid == kid_of(cert.public_key())
    data = sealed_pdf(issuer, "kk", certificate())
    embedded, status = validate(data, cert)
    assert status.intact and status.valid and status.trusted
    assert embedded.signer_cert.dump() == cert.public_bytes(serialization.Encoding.DER)
    assert "Test issuer" in embedded.signer_cert.subject.human_friendly
    (token,) = parse_qs(urlsplit(qr_url(data)).query)["p"]
    assert unseal(token, offline_keys(issuer)) == certificate().sealed()
    # A path is not a secret; the key given as PEM text is, and works the same.
    assert str(key_path) not in settings.secret_values()
    inline = Settings(database=":memory:", signing_key=key_pem.decode(), signing_cert=cert_path.read_text())
    assert key_pem.decode() in inline.secret_values()
    assert Issuer.from_settings(inline).jwks() == issuer.jwks()


def test_the_signing_settings_are_both_or_neither_and_must_match(tmp_path):
    key_path, cert_path, _, _ = make_pair(tmp_path)
    for only in ({"signing_key": str(key_path)}, {"signing_cert": str(cert_path)}):
        with pytest.raises(ConfigError, match="QYZMET_SIGNING_KEY and QYZMET_SIGNING_CERT"):
            load_settings(database=":memory:", **only)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_key, _, _, _ = make_pair(other_dir)
    with pytest.raises(ConfigError, match="public keys differ"):
        Issuer.from_settings(Settings(database=":memory:", signing_key=str(other_key), signing_cert=str(cert_path)))
    with pytest.raises(ConfigError, match="QYZMET_SIGNING_KEY: cannot read"):
        Issuer.from_settings(Settings(database=":memory:", signing_key=str(tmp_path / "missing.key"),
                                      signing_cert=str(cert_path)))
    garbage = tmp_path / "not-a-key.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="QYZMET_SIGNING_KEY: not an unencrypted PEM private key"):
        Issuer.from_settings(Settings(database=":memory:", signing_key=str(garbage), signing_cert=str(cert_path)))
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(ConfigError, match="P-256"):  # the QR payload is ES256
        Issuer.from_settings(Settings(database=":memory:", signing_key=p384, signing_cert=str(cert_path)))
