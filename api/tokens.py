"""API keys (stored hashed) and signed driver tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

API_KEY_PREFIX = "hdk_"


class InvalidToken(PermissionError):
    """A bearer credential that is malformed, forged or expired."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid token: {reason}")


def new_api_key() -> str:
    """A fresh random API key; only its hash is ever stored."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 of the key: keys are 256-bit random, so a slow KDF would add nothing."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class DriverClaims:
    courier_id: str
    tenant: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_driver_token(secret: str, courier_id: str, tenant: str, expires_at: float) -> str:
    """``payload.signature``: base64url JSON claims and their HMAC-SHA256."""
    payload = _b64(
        json.dumps(
            {"sub": courier_id, "ten": tenant, "exp": expires_at}, separators=(",", ":")
        ).encode()
    )
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def verify_driver_token(secret: str, token: str, now: float) -> DriverClaims:
    """Check the signature and expiry of a driver token.

    Raises
    ------
    InvalidToken
        When the token is malformed, its signature does not match or it has expired.
    """
    payload, dot, sig = token.partition(".")
    if not dot or not payload or not sig:
        raise InvalidToken("malformed")
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, sig):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_unb64(payload))
        result = DriverClaims(str(claims["sub"]), str(claims["ten"]), float(claims["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("malformed claims") from exc
    if result.expires_at <= now:
        raise InvalidToken("expired")
    return result
