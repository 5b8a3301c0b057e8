"""Chromium from Debian driven by Playwright. Never `playwright install`: it downloads a browser."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/ensure-chromium.sh (as root it installs it)")
    return CHROMIUM


async def launch_chromium(playwright: Playwright, *, headless: bool = True) -> Browser:
    require_chromium()
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=headless)
