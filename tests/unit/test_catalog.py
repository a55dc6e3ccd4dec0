"""The service catalog (S1–S6), its texts in both languages and the service guide."""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po

from bot.domain.catalog import (
    REGISTRY_SERVICES,
    SERVICES,
    UnknownService,
    get_service,
    service_for_register,
)
from bot.i18n import LANGS, LOCALES_DIR, Texts
from handlers.telegram.guide import service_guide, services_menu_labels

SERVICE_FIELDS = (
    "name", "short", "provider", "recipients", "channels", "documents",
    "fee", "deadline", "schedule", "result", "refusal",
)
REGISTRY_FIELDS = ("form_title", "observed_label")
GENERAL_KEYS = (
    "form.issue_date", "form.full_name", "form.birth_date", "form.address",
    "form.observed_yes", "form.observed_no", "form.source_system", "form.application_number",
    "form.validity",
    "guide.title", "guide.provider", "guide.recipients", "guide.channels", "guide.documents",
    "guide.fee", "guide.deadline", "guide.schedule", "guide.result", "guide.refusal",
    "guide.status_info",
)
KAZAKH_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Menu labels that are one word spelled alike in both languages (the kk tb label differs: «Туберкулез»).
SAME_IN_BOTH = {"service.psychiatry_info.short": "Психиатрия", "service.narcology_info.short": "Наркология"}


def required_keys() -> list[str]:
    keys = list(GENERAL_KEYS)
    for code in SERVICES:
        keys += [f"service.{code}.{field}" for field in SERVICE_FIELDS]
        if code in REGISTRY_SERVICES:
            keys += [f"service.{code}.{field}" for field in REGISTRY_FIELDS]
    return keys


def load_services_po(lang: str) -> dict[str, str]:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "services.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {m.id: m.string for m in catalog if m.id}


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load()


@pytest.fixture(scope="module")
def po() -> dict[str, dict[str, str]]:
    return {lang: load_services_po(lang) for lang in LANGS}


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


# --- catalog.py ------------------------------------------------------------------------------

def test_services_in_order():
    assert [s.number for s in SERVICES.values()] == ["S1", "S2", "S3", "S4", "S5", "S6"]
    assert all(code == s.code for code, s in SERVICES.items())
    assert tuple(c for c, s in SERVICES.items() if s.register is not None) == REGISTRY_SERVICES
    assert all(s.free for s in SERVICES.values())


def test_registry_services_are_portal_only_with_third_party_consent():
    for code in REGISTRY_SERVICES:
        service = get_service(code)
        assert service.channels == ("portal",)
        assert service.consent_for_third_party
    for code in SERVICES.keys() - set(REGISTRY_SERVICES):
        assert not get_service(code).consent_for_third_party
    assert get_service("social_services_docs").channels == ("state_corporation", "provider", "portal")
    valid = {"portal", "provider", "state_corporation"}
    assert all(set(s.channels) <= valid for s in SERVICES.values())


def test_service_for_register():
    assert service_for_register("tb").code == "tb_info"
    assert service_for_register("psychiatry").code == "psychiatry_info"
    assert service_for_register("narcology").code == "narcology_info"
    with pytest.raises(UnknownService):
        service_for_register("oncology")


@pytest.mark.parametrize("code", ["", "TB_INFO", "tb", "S1", "unknown"])
def test_unknown_service(code):
    with pytest.raises(UnknownService):
        get_service(code)
    assert issubclass(UnknownService, ValueError)


# --- services.po -----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_header(lang):
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "services.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    assert str(catalog.locale) == lang
    assert catalog.num_plurals == (2 if lang == "kk" else 3)
    raw = (LOCALES_DIR / lang / "LC_MESSAGES" / "services.po").read_text(encoding="utf-8")
    assert f'"Language: {lang}\\n"' in raw
    assert "charset=UTF-8" in raw


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_present_and_filled(texts, po, lang):
    for key in required_keys():
        assert key in po[lang], f"{lang}: {key} missing from services.po"
        value = texts(lang, key)
        assert value.strip(), f"{lang}: {key} is empty"
        assert value != key


def test_same_keys_in_both_languages(po):
    assert po["kk"].keys() == po["ru"].keys()


def test_placeholders_identical(po):
    for key in po["kk"]:
        assert placeholders(po["kk"][key]) == placeholders(po["ru"][key]), key


def test_expected_placeholders(po):
    for lang in LANGS:
        assert placeholders(po[lang]["guide.title"]) == {"name"}
        assert placeholders(po[lang]["form.source_system"]) == {"system"}
        assert placeholders(po[lang]["form.application_number"]) == {"number"}
        for value in po[lang].values():
            value.format(**{name: "x" for name in placeholders(value)})  # no stray braces


@pytest.mark.parametrize("lang", LANGS)
def test_short_labels(texts, lang):
    labels = services_menu_labels(texts, lang)
    assert [code for code, _ in labels] == list(SERVICES)
    for code, label in labels:
        assert 0 < len(label) <= 32, (code, label)
    assert len({label for _, label in labels}) == len(labels)


def test_kazakh_is_not_russian(po):
    for key, kk in po["kk"].items():
        if key.endswith(".form_title"):
            # «Сведения/Мәлімет» in both, as the seed's bilingual title; its subject in each language, its
            # parentheses balanced (the seed leaves one open for psychiatry and narcology).
            ru = po["ru"][key]
            assert kk.startswith("Сведения/Мәлімет (") and ru.startswith("Сведения/Мәлімет ("), key
            assert kk != ru, key
            assert not set(ru.removeprefix("Сведения/Мәлімет")) & KAZAKH_LETTERS, key
            for title in (kk, ru):
                depth = 0
                for ch in title:
                    depth += {"(": 1, ")": -1}.get(ch, 0)
                    assert depth >= 0, title
                assert depth == 0 and title.endswith(")"), title
            continue
        if key in SAME_IN_BOTH:
            assert kk == po["ru"][key] == SAME_IN_BOTH[key], key
            continue
        assert kk != po["ru"][key], f"{key}: kk text is identical to ru"
        # ё is not written in Kazakh; ъ and э are (loan words: «субъект», «электрондық»).
        assert not set(kk) & set("ёЁ"), f"{key}: Russian-only letter in kk text"
    for code in SERVICES:
        assert set(po["kk"][f"service.{code}.name"]) & KAZAKH_LETTERS


def test_seed_wording(po):
    for code in REGISTRY_SERVICES:
        assert po["kk"][f"service.{code}.refusal"].startswith("Сұрау салу жасалған адамның келісімінің болмауы")
        assert po["ru"][f"service.{code}.refusal"].startswith(
            "Отсутствие согласия лица, в отношении которого сделан запрос")
        assert po["kk"][f"service.{code}.form_title"].startswith("Сведения/Мәлімет (")
        assert po["kk"][f"service.{code}.observed_label"] == "Динамикалық бақылауда тұратыны (тұрмайтыны)"
        assert po["ru"][f"service.{code}.observed_label"] == "На динамическом наблюдении"
    assert po["ru"]["service.sanatorium_conclusion.name"] == (
        "Выдача заключения о нуждаемости в санаторно-курортном лечении")
    assert po["ru"]["form.validity"] == "Срок действия – 10 календарных дней."
    assert po["kk"]["form.validity"] == "Қолданылу мерзімі – күнтізбелік 10 күн."


# --- guide -----------------------------------------------------------------------------------

class TelegramHtml(HTMLParser):
    """Accepts only <b>/<i> without attributes, properly nested; records every violation."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ("b", "i") or attrs:
            self.errors.append(f"tag <{tag}>")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_entityref(self, name):
        if name not in ("lt", "gt", "amp", "quot"):
            self.errors.append(f"entity &{name};")

    def handle_charref(self, name):
        self.errors.append(f"charref &#{name};")


def assert_telegram_html(message: str) -> None:
    assert not re.search(r"&(?!(lt|gt|amp|quot);)", message), "bare &"
    parser = TelegramHtml()
    parser.feed(message)
    parser.close()
    assert not parser.errors, parser.errors
    assert not parser.stack, f"unclosed {parser.stack}"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("code", list(SERVICES))
def test_guide_renders(texts, lang, code):
    message = service_guide(texts, lang, code)
    assert len(message) < 4096
    assert_telegram_html(message)
    assert texts(lang, f"service.{code}.name").replace('"', "") in message.replace('"', "")
    for heading in ("guide.provider", "guide.deadline", "guide.refusal"):
        assert f"<b>{texts(lang, heading)}</b>" in message


def test_guide_escapes_catalog_text(tmp_path):
    for lang in LANGS:
        source = (LOCALES_DIR / lang / "LC_MESSAGES" / "services.po").read_text(encoding="utf-8")
        target = tmp_path / lang / "LC_MESSAGES" / "services.po"
        target.parent.mkdir(parents=True)
        target.write_text(
            source.replace('msgstr "Бесплатно."', 'msgstr "<script>&nbsp;</script>"'), encoding="utf-8"
        )
    message = service_guide(Texts.load(tmp_path), "ru", "tb_info")
    assert "&lt;script&gt;&amp;nbsp;&lt;/script&gt;" in message
    assert_telegram_html(message)


def test_guide_unknown_service(texts):
    with pytest.raises(UnknownService):
        service_guide(texts, "kk", "nope")


