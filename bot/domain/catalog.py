"""The public services the bot knows (S1–S6 of shared/domain.md): facts that code needs, no texts.

Texts (names, guide sections, certificate labels) live in ``locales/<lang>/LC_MESSAGES/services.po``
under ``service.<code>.*``, ``form.*`` and ``guide.*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServiceCode = Literal[
    "tb_info",
    "psychiatry_info",
    "narcology_info",
    "sanatorium_conclusion",
    "drug_provision",
    "social_services_docs",
]
Register = Literal["tb", "psychiatry", "narcology"]
Channel = Literal["portal", "provider", "state_corporation"]


@dataclass(frozen=True)
class Service:
    code: ServiceCode
    number: str  # "S1" … "S6"
    register: Register | None  # S1–S3 only
    consent_for_third_party: bool  # S1–S3: a third party may request with the subject's consent
    channels: tuple[Channel, ...]
    free: bool


class UnknownService(ValueError):
    """A service code (or register) the catalog does not know."""


_ALL = (
    # S1–S3: ҚР ДСМ-49/2020 as amended up to ҚР ДСМ-146 (seed [001]); portal only, free, 30 minutes.
    Service("tb_info", "S1", "tb", True, ("portal",), True),
    Service("psychiatry_info", "S2", "psychiatry", True, ("portal",), True),
    Service("narcology_info", "S3", "narcology", True, ("portal",), True),
    # S4: standard only (seed [002]): PHC providers and the portal.
    Service("sanatorium_conclusion", "S4", None, False, ("provider", "portal"), True),
    # S5: ҚР ДСМ-103 (seed [003]): the health-care entity and the portal.
    Service("drug_provision", "S5", None, False, ("provider", "portal"), True),
    # S6: MLSP rules (seed [004]): State Corporation, the local executive body and the portal.
    Service("social_services_docs", "S6", None, False, ("state_corporation", "provider", "portal"), True),
)

SERVICES: dict[str, Service] = {service.code: service for service in _ALL}
REGISTRY_SERVICES: tuple[str, ...] = ("tb_info", "psychiatry_info", "narcology_info")
_BY_REGISTER: dict[str, Service] = {s.register: s for s in _ALL if s.register is not None}


def get_service(code: str) -> Service:
    try:
        return SERVICES[code]
    except KeyError:
        raise UnknownService(code) from None


def service_for_register(register: str) -> Service:
    """The registry-status service (S1–S3) for ``"tb"``, ``"psychiatry"`` or ``"narcology"``."""
    try:
        return _BY_REGISTER[register]
    except KeyError:
        raise UnknownService(register) from None
