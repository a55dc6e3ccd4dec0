"""``GET /.well-known/jwks.json`` and ``GET /.well-known/qyzmet-issuer.pem`` — the issuer's public key, published so
that anyone verifies a certificate's QR payload offline (a JWK set: ES256, by ``kid``) and its PDF signature
(the X.509 certificate). Public by nature; cacheable for a day."""

from __future__ import annotations

import json

from aiohttp import web

from bot.gateways.issuer import Issuer

JWKS_PATH = "/.well-known/jwks.json"
PEM_PATH = "/.well-known/qyzmet-issuer.pem"
_CACHE = {"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"}


class IssuerKeys:
    def __init__(self, issuer: Issuer) -> None:
        self._jwks = json.dumps(issuer.jwks(), ensure_ascii=False)
        self._pem = issuer.certificate_pem()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(JWKS_PATH, self._get_jwks)
        app.router.add_get(PEM_PATH, self._get_pem)

    async def _get_jwks(self, request: web.Request) -> web.Response:
        return web.Response(text=self._jwks, content_type="application/jwk-set+json", headers=_CACHE)

    async def _get_pem(self, request: web.Request) -> web.Response:
        return web.Response(text=self._pem, content_type="application/x-pem-file", headers=_CACHE)
