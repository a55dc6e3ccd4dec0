"""What the core asks of the world beyond it, as Protocols: the core depends on these, and the process shell
(bot/services.py) hands it an implementation (bot/gateways/)."""

from __future__ import annotations

from typing import Protocol

from bot.domain.certificate_seal import SealedCertificate


class Sealer(Protocol):
    """The issuer's signature over a certificate's printed fields (bot/gateways/issuer.py): the payload of the
    certificate's QR code, verifiable offline with the issuer's published public key."""

    def seal(self, fields: SealedCertificate) -> str:
        """The signed payload, URL-safe text."""
        ...

    def unseal(self, token: str) -> SealedCertificate:
        """The fields a payload carries; BadSeal (bot/domain/certificate_seal.py) when its signature does not hold."""
        ...
