"""Liveness and readiness for the orchestrator: /healthz (the process answers) and /readyz (every backend does)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    now = time.monotonic()
    cached = state.readiness
    if cached is None or now - cached[0] > state.settings.readiness_cache_seconds:
        async with state.readiness_lock:
            cached = state.readiness
            if cached is None or now - cached[0] > state.settings.readiness_cache_seconds:
                backends = await state.backends.health(deadline=1.0)
                cached = (time.monotonic(), backends)
                state.readiness = cached
    backends = cached[1]
    ready = all(v == "SERVING" for v in backends.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "backends": backends}, status_code=200 if ready else 503
    )
