from __future__ import annotations

import pytest

from orders.errors import SignatureExpired, SignatureInvalid
from orders.signatures import compute_signature, parse_header, signature_header, verify

# Vectors cross-checked with OpenSSL:
#   printf '1700000000.{"id":"evt_1","type":"order.delivered"}' | openssl dgst -sha256 -hmac whsec_test
#   printf '0.' | openssl dgst -sha256 -hmac key
BODY = b'{"id":"evt_1","type":"order.delivered"}'
VECTORS = [
    (
        "whsec_test",
        1_700_000_000,
        BODY,
        "f0fa2ed30a8e4cef0f3300c9e1be07932ac36565e4ac2b0a6e6c5d3a5fd7b079",
    ),
    ("key", 0, b"", "85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d"),
]


@pytest.mark.parametrize(("secret", "t", "body", "hexdigest"), VECTORS)
def test_signature_vectors(secret: str, t: int, body: bytes, hexdigest: str) -> None:
    assert compute_signature(secret, t, body) == hexdigest
    assert compute_signature(secret.encode(), t, body) == hexdigest
    header = signature_header(secret, t, body)
    assert header == f"t={t},v1={hexdigest}"
    assert verify(secret, body, header, now=t + 299) == t


def test_old_and_future_signatures_are_refused() -> None:
    header = signature_header("s", 1_000, BODY)
    with pytest.raises(SignatureExpired) as info:
        verify("s", BODY, header, now=1_301.0)
    assert info.value.value == 1_000 and isinstance(info.value, SignatureInvalid)
    with pytest.raises(SignatureExpired):
        verify("s", BODY, header, now=699.0)
    assert verify("s", BODY, header, now=lambda: 1_300.0) == 1_000
    assert verify("s", BODY, header, now=3_000.0, tolerance_s=3_600) == 1_000


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h, b: (h, b + b" "),  # body re-serialized
        lambda h, b: (h.replace("t=1000", "t=1001"), b),  # timestamp swapped
        lambda h, b: (h[:-1] + ("0" if h[-1] != "0" else "1"), b),  # signature flipped
    ],
)
def test_tampering_is_detected(mutate: object) -> None:
    header, body = mutate(signature_header("s", 1_000, BODY), BODY)  # type: ignore[operator]
    with pytest.raises(SignatureInvalid):
        verify("s", body, header, now=1_000.0)


def test_wrong_secret_and_rotation() -> None:
    header = signature_header(["new", "old"], 1_000, BODY)
    assert verify("old", BODY, header, now=1_000.0) == 1_000
    assert verify(["other", "new"], BODY, header, now=1_000.0) == 1_000
    with pytest.raises(SignatureInvalid, match="no signature matches"):
        verify("nope", BODY, header, now=1_000.0)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=1000", "t=abc,v1=00", "garbage"])
def test_malformed_headers(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify("s", BODY, header, now=1_000.0)


def test_parse_header_ignores_unknown_schemes() -> None:
    assert parse_header("t=5, v0=zz, v1=ab,v1=cd") == (5, ["ab", "cd"])
