import pytest

from api.messages import (
    AcceptMessage,
    InvalidTimestamp,
    MessageError,
    PingsMessage,
    SubscribeMessage,
    decode_console,
    decode_driver,
    epoch_seconds,
)


def test_decode_pings_batch() -> None:
    msg = decode_driver(
        b'{"type":"pings","id":7,"pings":[{"lat":1.5,"lng":2,"ts":10},'
        b'{"lat":1,"lng":2,"ts":"2026-01-01T00:00:00Z","speed":3.5}]}'
    )
    assert isinstance(msg, PingsMessage)
    assert msg.id == 7
    assert [p.lat for p in msg.pings] == [1.5, 1.0]
    assert msg.pings[1].speed == 3.5


def test_decode_accept() -> None:
    assert decode_driver('{"type":"accept","offer_id":"o1"}') == AcceptMessage(offer_id="o1")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"type":"pings","pings":[{"lat":"x","lng":2,"ts":1}]}',
        b'{"type":"pings","pings":[{"lat":NaN,"lng":2,"ts":1}]}',
        b'{"type":"teleport"}',
        b'{"type":"pings","pings":[{"lat":1,"lng":2,"ts":1,"extra":1}]}',
        b'{"type":"pings"}',
    ],
)
def test_malformed_driver_messages_raise_message_error(raw: bytes) -> None:
    with pytest.raises(MessageError):
        decode_driver(raw)


def test_decode_subscribe() -> None:
    msg = decode_console('{"type":"subscribe","bbox":[36.6,-1.45,36.95,-1.15]}')
    assert isinstance(msg, SubscribeMessage)
    assert msg.bbox == [36.6, -1.45, 36.95, -1.15]


def test_epoch_seconds() -> None:
    assert epoch_seconds(12.5) == 12.5
    assert epoch_seconds("1970-01-01T00:01:00Z") == 60.0
    assert epoch_seconds("1970-01-01T03:00:00+03:00") == 0.0
    with pytest.raises(InvalidTimestamp, match="no UTC offset"):
        epoch_seconds("2026-01-01T00:00:00")
    with pytest.raises(InvalidTimestamp, match="ISO 8601"):
        epoch_seconds("yesterday")
