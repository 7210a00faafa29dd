"""SSRF guard for webhook URLs: resolve the host and refuse the server's own network.

Run at registration and again before every delivery, since DNS can change in between.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from orders.errors import UnsafeWebhookUrl
from orders.webhook_targets import addresses_refusal, literal_address, url_refusal

Resolver = Callable[[str], list[str]]


def resolve_host(host: str) -> list[str]:
    """The host's IP addresses; none when it does not resolve (the send will fail anyway,
    and the check runs again before each delivery)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def target_refusal(
    url: str, *, allow_private_hosts: bool, resolve: Resolver = resolve_host
) -> str | None:
    """Why webhooks may not be sent to ``url`` now, or None.

    Parameters
    ----------
    url
        The endpoint's URL.
    allow_private_hosts
        Accept loopback and private hosts (`Settings.webhook_allow_private_hosts`).
    resolve
        Host name to addresses (DNS by default).
    """
    reason = url_refusal(url)
    if reason is not None or allow_private_hosts:
        return reason
    host = urlsplit(url).hostname or ""
    literal = literal_address(host)
    return addresses_refusal([literal] if literal is not None else resolve(host))


def check_webhook_url(
    url: str, *, allow_private_hosts: bool, resolve: Resolver = resolve_host
) -> None:
    """Raise `orders.errors.UnsafeWebhookUrl` (field ``url``, 422) for a refused URL."""
    reason = target_refusal(url, allow_private_hosts=allow_private_hosts, resolve=resolve)
    if reason is not None:
        raise UnsafeWebhookUrl(url, reason)
