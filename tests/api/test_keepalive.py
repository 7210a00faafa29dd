"""Websocket keepalive under `hexdispatch serve`: the server pings, and drops a client that
never answers (uvicorn's protocol-level ping/pong, set from HEXDISPATCH_WS_KEEPALIVE_S)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

PING, CLOSE = 0x9, 0x8
KEEPALIVE_S = 0.3
PATIENCE_S = 30.0
"""Only a bound on how long to wait for the server; nothing is timed."""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[int, str]]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEXDISPATCH_")}
    env["HEXDISPATCH_WS_KEEPALIVE_S"] = str(KEEPALIVE_S)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        key = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        yield port, key
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def _connect(port: int, path: str) -> socket.socket:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _frame(sock: socket.socket) -> int:
    """The opcode of the next server frame (server frames are unmasked)."""
    b0, b1 = _exactly(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(_exactly(sock, 8), "big")
    _exactly(sock, length)
    return b0 & 0x0F


def test_server_pings_and_drops_a_client_that_never_pongs(server: tuple[int, str]) -> None:
    port, key = server
    with _connect(port, f"/v1/ws/console?api_key={key}") as sock:
        assert _frame(sock) == PING  # a console that has not subscribed hears nothing else
        # Never answer: the server must give up on this connection.
        opcodes = []
        with pytest.raises(ConnectionError):
            while True:
                opcodes.append(_frame(sock))
                if opcodes[-1] == CLOSE:
                    raise ConnectionError("close frame")
        assert set(opcodes) <= {PING, CLOSE}
