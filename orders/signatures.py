"""HMAC-SHA256 webhook signatures over ``timestamp + "." + raw body``, with a freshness check.

Header format (one ``t``, one or more ``v1`` during a secret rotation)::

    Hexdispatch-Signature: t=1700000000,v1=f0fa2ed30a8e4cef0f3300c9e1be07932ac36565e4ac2b0a6e6c5d3a5fd7b079

A receiver recomputes ``HMAC_SHA256(secret, f"{t}.{body}")`` over the body bytes exactly as
received, compares it in constant time, and refuses a timestamp more than five minutes away
from its clock, which bounds replays of a captured request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from orders.errors import SignatureExpired, SignatureInvalid

SIGNATURE_HEADER = "Hexdispatch-Signature"
DEFAULT_TOLERANCE_S = 300.0
SCHEME = "v1"


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def compute_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(
    secrets: str | bytes | Iterable[str | bytes], timestamp: int, body: bytes
) -> str:
    """The header value ``t=<timestamp>,v1=<hex>[,v1=<hex>...]``, one ``v1`` per secret."""
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    parts = [f"t={int(timestamp)}"] + [
        f"{SCHEME}={compute_signature(k, timestamp, body)}" for k in keys
    ]
    return ",".join(parts)


def parse_header(header: str) -> tuple[int, list[str]]:
    """Split a signature header into its timestamp and its ``v1`` signatures.

    Raises
    ------
    SignatureInvalid
        No timestamp, a non-integer timestamp, or no ``v1`` signature.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("timestamp is not an integer", value) from None
        elif name == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureInvalid("no t= timestamp in the header", header)
    if not signatures:
        raise SignatureInvalid(f"no {SCHEME}= signature in the header", header)
    return timestamp, signatures


def verify(
    secrets: str | bytes | Iterable[str | bytes],
    body: bytes,
    header: str,
    *,
    now: float | Callable[[], float],
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a signature header against the raw body; return its timestamp.

    Parameters
    ----------
    secrets
        The endpoint's secret, or several while rotating: any match is accepted.
    body
        The request body exactly as received (do not re-serialize parsed JSON).
    header
        The ``Hexdispatch-Signature`` value.
    now
        Current UTC epoch seconds, or a clock returning them.
    tolerance_s
        Largest accepted distance between the timestamp and ``now``, either way.

    Raises
    ------
    SignatureExpired
        The timestamp is too old (or too far in the future).
    SignatureInvalid
        Malformed header or no signature matches.
    """
    timestamp, signatures = parse_header(header)
    current = now() if callable(now) else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureExpired(timestamp, current, tolerance_s)
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    matched = False
    for key in keys:
        expected = compute_signature(key, timestamp, body)
        for candidate in signatures:
            # Every pair is compared, so timing does not tell which one matched.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise SignatureInvalid("no signature matches the body")
    return timestamp
