"""Where webhooks may go: http(s) hosts on the public internet, not the server's own network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

SCHEMES = frozenset({"http", "https"})

# Checked in this order: 127.0.0.1 and 169.254.0.0/16 are also "private" to `ipaddress`, and the
# reason should name the narrower kind.
_KINDS = ("unspecified", "loopback", "link_local", "multicast", "private")


def url_refusal(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target on its face (scheme, host), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in SCHEMES:
        return "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    return None


def address_refusal(address: str) -> str | None:
    """Why a webhook may not be sent to this IP address (loopback, private, link-local,
    multicast, unspecified; IPv4-mapped IPv6 judged as its IPv4), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in _KINDS:
        if getattr(ip, f"is_{kind}"):
            return f"resolves to a {kind.replace('_', '-')} address ({ip})"
    return None


def addresses_refusal(addresses: Iterable[str]) -> str | None:
    """The first refusal among a host's addresses: one bad address is enough to refuse it,
    since the sender may connect to any of them."""
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            return reason
    return None


def literal_address(host: str) -> str | None:
    """``host`` when it is an IP address literal (brackets stripped), else None."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None
    return bare
