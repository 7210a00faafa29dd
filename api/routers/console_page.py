"""The dispatcher console: static single-page files under api/static/console/, and its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from api.deps import SettingsDep

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"

router = APIRouter(tags=["console"])


@router.get("/console/config.json")
def console_config(settings: SettingsDep) -> dict[str, Any]:
    """What the page needs before it has an API key: the optional basemap tile URL."""
    return {"tile_url": settings.tile_url, "console_resolution": settings.console_resolution}


def static_files() -> StaticFiles:
    """The page, its script and the vendored map library; no build step."""
    return StaticFiles(directory=STATIC_DIR, html=True)
