"""Delivery PINs: salted PBKDF2 hashes stored on the order, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

DEFAULT_ITERATIONS = 100_000
"""PBKDF2-SHA256 rounds. A 4-6 digit PIN is low-entropy whatever the hash: the API must also
limit wrong attempts per order; the hash only keeps PINs out of plain sight in the database."""


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """Hash a PIN as ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``.

    Parameters
    ----------
    pin
        The PIN as typed by the customer.
    salt
        16 random bytes by default; pass one only to get a reproducible hash in tests.
    iterations
        PBKDF2 rounds.
    """
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches a `hash_pin` string; the comparison is constant-time."""
    try:
        scheme, rounds, salt_hex, digest_hex = stored.split("$")
        iterations = int(rounds)
        salt = bytes.fromhex(salt_hex)
        expected = bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)
