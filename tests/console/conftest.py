"""Browser fixtures: one uvicorn server and one headless Debian chromium for the console package (a session-wide sync Playwright would leave its event loop running in the main thread for every later test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.server import CHROMIUM, CHROMIUM_ARGS, LiveServer, chromium_missing, live_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="package")
def server() -> Iterator[LiveServer]:
    with live_server() as s:
        yield s


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    reason = chromium_missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
