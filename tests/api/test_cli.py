"""The `hexdispatch serve` and `tenant create` commands, for real."""

import os
import socket
import subprocess
import sys
import time

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from api.cli import app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_embedded_prints_a_working_key() -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEXDISPATCH_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "API key" in line, line
        key = line.rsplit(" ", 1)[1].strip()
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        auth = {"Authorization": f"Bearer {key}"}
        r = httpx.post(f"http://127.0.0.1:{port}/v1/couriers", json={"id": "c1"}, headers=auth)
        assert r.status_code == 201
        assert httpx.get(f"http://127.0.0.1:{port}/v1/couriers").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_refuses_workers_without_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEXDISPATCH_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2


@pytest.mark.postgis
def test_tenant_create_prints_a_key_the_store_knows(
    postgis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store.postgis import PostgisStore

    monkeypatch.setenv("HEXDISPATCH_DATABASE_URL", postgis_url)
    result = CliRunner().invoke(app, ["tenant", "create", "Acme"])
    assert result.exit_code == 0, result.output
    key = result.output.split("api key ")[1].strip()
    store = PostgisStore(postgis_url, start_flusher=False)
    try:
        tenant = store.tenant_for_api_key(key)
        assert tenant is not None and tenant.name == "Acme"
    finally:
        store.close()
