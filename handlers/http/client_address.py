"""Who is asking: the real client of an HTTP request, for per-client limits.

Behind a reverse proxy every request comes from the proxy's address, so a limit on "the connecting address"
would count every employer together (five wrong codes from anyone locking the page for all). The proxy names
the client in X-Forwarded-For, but so can anyone: the header is believed only from QYZMET_TRUSTED_PROXIES, and
read from the right, hop by hop, while the hop is itself a trusted proxy — the first address that is not one
is the client (a client cannot push its own forged entries past a proxy that appends what it saw).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from aiohttp import web

Networks = Sequence[IPv4Network | IPv6Network]


def _address(text: str) -> IPv4Address | IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, proxies: Networks) -> bool:
    return any(address in network for network in proxies)


def real_client(remote: str | None, forwarded_for: str | None, proxies: Networks) -> str:
    """The client's address: ``remote`` (the connecting peer) unless it is a trusted proxy, in which case the
    right-most address of ``forwarded_for`` that is not a trusted proxy. A header that cannot be read makes the
    last trusted hop the client (never a value the client chose)."""
    peer = _address(remote or "")
    if peer is None:
        return remote or "unknown"
    if not proxies or not _trusted(peer, proxies) or not forwarded_for:
        return str(peer)
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)


def client_of(request: web.Request, proxies: Networks) -> str:
    return real_client(request.remote, request.headers.get("X-Forwarded-For"), proxies)
