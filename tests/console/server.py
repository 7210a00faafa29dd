"""A real uvicorn server on a free 127.0.0.1 port in a background thread, and a tiny REST client
(tests and the console benchmark share them)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.settings import Settings
from store.memory import MemoryStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"Debian chromium is not installed ({CHROMIUM}); `make test` installs it as root"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@dataclass
class LiveServer:
    """The running app: its base URL and its store (to create tenants and keys directly)."""

    url: str
    store: MemoryStore
    app: FastAPI

    def call(self, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
        """One REST call with a bearer key; (status, decoded JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                raw = res.read()
                return res.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, key: str, body: Any = None) -> Any:
        status, out = self.call(method, path, key, body)
        assert status < 300, (method, path, status, out)
        return out

    def tenant_key(self, name: str) -> str:
        tenant = self.store.create_tenant(name)
        _, key = self.store.create_api_key(tenant.id)
        return key


@contextmanager
def live_server(settings: Settings | None = None) -> Iterator[LiveServer]:
    """Serve ``create_app`` with an in-memory store until the block ends; by default dispatch runs
    only when asked (``POST /v1/dispatch/run``), so tests see exactly the offers they cause."""
    store = MemoryStore()
    settings = settings or Settings(token_secret="k" * 40, dispatch_window_s=3600)
    app = create_app(settings, store=store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", ws_max_size=1 << 20)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", store, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()
