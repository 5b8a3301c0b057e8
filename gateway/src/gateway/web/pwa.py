"""The installable web app (X7): the manifest, the service worker served from the root (so its scope is the whole
site) and the offline page it falls back to. What the worker caches is its SHELL list (web/sw.js): files that are
the same for everyone, never a signed-in page, customer data or /api/ (docs/push.md); gateway_tests check the list.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.edge.portal_controls import request_controls
from gateway.web.i18n import LANGUAGES
from gateway.web.render import STATIC_DIR, Pages

router = APIRouter(include_in_schema=False)

# Not under static/: served only as /sw.js, with its version filled in.
SW_FILE = Path(__file__).parent / "sw.js"
_SHELL = re.compile(r"const SHELL = \[(.*?)\];", re.DOTALL)
THEME_COLOUR = "#12325b"
BACKGROUND_COLOUR = "#f5f7fb"


def shell(source: str) -> list[str]:
    """The paths the service worker caches, read from its source."""
    found = _SHELL.search(source)
    if found is None:
        raise ValueError("sw.js has no SHELL list")
    return json.loads(f"[{found.group(1).strip().rstrip(',')}]")


@cache
def service_worker() -> bytes:
    """sw.js with its cache named after the shell's static files, so a changed file replaces the cache."""
    source = SW_FILE.read_text()
    digest = hashlib.sha256(source.encode())
    for path in shell(source):
        if path.startswith("/static/"):
            digest.update((STATIC_DIR / path.removeprefix("/static/")).read_bytes())
    return source.replace("__SHELL_VERSION__", digest.hexdigest()[:16]).encode()


@router.get("/sw.js")
async def sw() -> Response:
    return Response(
        service_worker(),
        media_type="text/javascript",
        # Browsers check for a new worker on navigation; no-cache makes them ask every time.
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    pages: Pages = request.app.state.pages
    controls = request_controls(request)
    name = (controls and controls.operator_name) or pages.operator_name
    t = pages.translator(request)
    body = {
        "name": name,
        "short_name": name[:12],
        "description": t("pwa.description"),
        "lang": t.lang,
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any maskable"},
            {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language, Cookie"},
    )


@router.get("/offline")
async def offline(request: Request) -> Response:
    """What the service worker shows when a page cannot be loaded: rendered for nobody, whoever asks, so the cached
    copy holds no one's data."""
    pages: Pages = request.app.state.pages
    # Cached once by the service worker without cookies, so it says it in every language the portal speaks.
    tables = [pages.translators[lang].table for lang in LANGUAGES]
    response = pages.render(request, "pwa/offline.html", {"tables": tables, "langs": LANGUAGES})
    response.headers["Cache-Control"] = "no-cache"
    return response
