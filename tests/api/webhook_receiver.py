"""A real webhook receiver for tests: uvicorn on a loopback socket in a background thread.

It verifies each request's signature with `orders.signatures.verify`, answers 503 while told
to fail, and records every request. The socket is bound before the server starts, so until
`start` a sender's connection is refused, as with a receiver that is down.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orders.errors import SignatureInvalid
from orders.signatures import SIGNATURE_HEADER, verify


@dataclass
class Received:
    body: dict[str, Any]
    status: int
    signature_ok: bool


@dataclass
class Receiver:
    secret: str
    clock: Callable[[], float]
    fail_next: int = 0
    """Answer 503 to this many more requests."""
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        try:
            verify(self.secret, raw, request.headers.get(SIGNATURE_HEADER, ""), now=self.clock)
            signature_ok = True
        except SignatureInvalid:
            signature_ok = False
        status = 503 if self.fail_next > 0 else 204
        self.fail_next = max(0, self.fail_next - 1)
        self.received.append(Received(json.loads(raw), status, signature_ok))
        return Response(status_code=status)

    def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, loop="asyncio", lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self.sock])),  # type: ignore[union-attr]
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            threading.Event().wait(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self.sock.close()

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered 2xx, in arrival order."""
        return [r.body for r in self.received if r.status < 300]
