import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.webhook_targets import address_refusal, addresses_refusal, literal_address, url_refusal


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
    ],
)
def test_internal_addresses_are_refused_naming_the_kind(address: str, kind: str) -> None:
    reason = address_refusal(address)
    assert reason is not None and f"a {kind} address" in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_accepted(address: str) -> None:
    assert address_refusal(address) is None


@settings(max_examples=200)
@given(st.ip_addresses())
def test_refused_exactly_when_ipaddress_calls_it_internal(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    internal = (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_unspecified
    )
    assert (address_refusal(str(ip)) is not None) == internal


def test_one_internal_address_among_many_refuses_the_host() -> None:
    assert addresses_refusal(["8.8.8.8", "10.0.0.1"]) is not None
    assert addresses_refusal(["8.8.8.8"]) is None
    assert addresses_refusal([]) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "must be an http(s) URL"),
        ("file:///etc/passwd", "must be an http(s) URL"),
        ("gopher://example.com", "must be an http(s) URL"),
        ("http:///path", "must name a host"),
        ("http://example.com:99999/", "is not a valid URL"),
        ("https://example.com/hook", None),
        ("HTTPS://example.com/hook", None),
    ],
)
def test_url_refusal_on_its_face(url: str, reason: str | None) -> None:
    found = url_refusal(url)
    assert found == reason if reason is None else found is not None and found.startswith(reason)


def test_literal_addresses_are_recognised() -> None:
    assert literal_address("[::1]") == "::1"
    assert literal_address("10.0.0.1") == "10.0.0.1"
    assert literal_address("example.com") is None
