import pytest
from pydantic import ValidationError

from api.settings import Settings
from api.tokens import (
    InvalidToken,
    hash_api_key,
    issue_driver_token,
    new_api_key,
    verify_driver_token,
)

SECRET = "s" * 40


def test_driver_token_round_trip() -> None:
    token = issue_driver_token(SECRET, "c1", "t1", expires_at=1000.0)
    claims = verify_driver_token(SECRET, token, now=999.0)
    assert (claims.courier_id, claims.tenant, claims.expires_at) == ("c1", "t1", 1000.0)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t + "x", "bad signature"),
        (lambda t: "e30" + t[3:], "bad signature"),
        (lambda t: "nodot", "malformed"),
        (lambda t: "." + t.split(".")[1], "malformed"),
    ],
)
def test_forged_tokens_are_refused(mutate: object, reason: str) -> None:
    token = issue_driver_token(SECRET, "c1", "t1", expires_at=1000.0)
    with pytest.raises(InvalidToken) as info:
        verify_driver_token(SECRET, mutate(token), now=0.0)  # type: ignore[operator]
    assert info.value.reason == reason


def test_other_secret_and_expiry() -> None:
    token = issue_driver_token(SECRET, "c1", "t1", expires_at=1000.0)
    with pytest.raises(InvalidToken, match="bad signature"):
        verify_driver_token("o" * 40, token, now=0.0)
    with pytest.raises(InvalidToken, match="expired"):
        verify_driver_token(SECRET, token, now=1000.0)


def test_api_keys_are_random_and_hashed() -> None:
    a, b = new_api_key(), new_api_key()
    assert a != b and a.startswith("hdk_")
    assert hash_api_key(a) == hash_api_key(a) != hash_api_key(b)
    assert a not in hash_api_key(a)


def test_settings_refuse_unsafe_secret_outside_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEXDISPATCH_ENVIRONMENT", "production")
    monkeypatch.setenv("HEXDISPATCH_TOKEN_SECRET", "changethis")
    with pytest.raises(ValidationError, match="TOKEN_SECRET"):
        Settings()
    monkeypatch.setenv("HEXDISPATCH_TOKEN_SECRET", "x" * 40)
    assert Settings().environment == "production"


def test_local_settings_get_a_random_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEXDISPATCH_TOKEN_SECRET", raising=False)
    a, b = Settings(), Settings()
    assert a.token_secret.get_secret_value() != b.token_secret.get_secret_value()
    assert a.database_url is None
