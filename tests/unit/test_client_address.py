"""The real client behind trusted proxies (handlers/http/client_address.py): the address limits count."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from handlers.http.client_address import real_client

PROXIES = [ipaddress.ip_network("10.0.0.5/32"), ipaddress.ip_network("172.30.0.0/24")]


@pytest.mark.parametrize(("remote", "header", "client"), [
    ("203.0.113.9", None, "203.0.113.9"),                        # no proxy
    ("203.0.113.9", "198.51.100.1", "203.0.113.9"),              # not from a trusted proxy: header ignored
    ("10.0.0.5", "198.51.100.1", "198.51.100.1"),                # the proxy names the client
    ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1"),       # a forged entry left of the real one
    ("10.0.0.5", "198.51.100.1, 172.30.0.7", "198.51.100.1"),    # two proxies in a row
    ("10.0.0.5", "172.30.0.7, 10.0.0.5", "172.30.0.7"),          # only proxies: the farthest one
    ("10.0.0.5", "not an address", "10.0.0.5"),                  # unreadable: the proxy itself
    ("10.0.0.5", "[2001:db8::1]:443", "2001:db8::1"),
    ("10.0.0.5", "198.51.100.1:5555", "198.51.100.1"),
    ("10.0.0.5", "", "10.0.0.5"),
])
def test_the_client_is_the_first_untrusted_hop_from_the_right(remote, header, client):
    assert real_client(remote, header, PROXIES) == client


def test_without_trusted_proxies_the_connecting_address_is_the_client():
    assert real_client("10.0.0.5", "198.51.100.1", []) == "10.0.0.5"
    assert real_client(None, "198.51.100.1", PROXIES) == "unknown"


@given(st.text(max_size=200))
def test_any_header_gives_an_address_never_a_traceback(header):
    result = real_client("10.0.0.5", header, PROXIES)
    ipaddress.ip_address(result)  # always an address, whatever the header holds


def test_the_setting_names_addresses_and_networks():
    settings = Settings(_env_file=None, trusted_proxies=" 10.0.0.5, 172.30.0.0/24 ,::1")
    assert [str(n) for n in settings.trusted_proxy_networks()] == ["10.0.0.5/32", "172.30.0.0/24", "::1/128"]
    with pytest.raises(ValueError, match="nginx"):
        Settings(_env_file=None, trusted_proxies="nginx")
