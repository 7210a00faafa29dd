"""API key secrets: generated once, stored and looked up only by their sha256."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "hxd_"


def new_secret() -> str:
    """A fresh API key secret (256 random bits, URL-safe)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    """The sha256 digest the store keeps; a random 256-bit secret needs no slow KDF."""
    return hashlib.sha256(secret.encode()).digest()
