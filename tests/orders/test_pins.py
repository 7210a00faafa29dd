from __future__ import annotations

from orders.pins import hash_pin, verify_pin


def test_hash_is_salted_and_verifies() -> None:
    a = hash_pin("0042", iterations=1_000)
    b = hash_pin("0042", iterations=1_000)
    assert a != b and "0042" not in a
    assert verify_pin("0042", a) and verify_pin("0042", b)
    assert not verify_pin("0043", a)


def test_known_vector_and_malformed_hashes() -> None:
    h = hash_pin("1234", salt=bytes(16), iterations=1)
    assert h == (
        "pbkdf2_sha256$1$00000000000000000000000000000000$"
        "350aeccd6a78b15d47657e419a53c652a7ae67c263979080fcbdf4af3dcd10ec"
    )
    for bad in ("", "md5$1$00$00", "pbkdf2_sha256$x$00$00", "pbkdf2_sha256$1$zz$00"):
        assert not verify_pin("1234", bad)
