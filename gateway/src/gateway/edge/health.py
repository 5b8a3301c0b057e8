"""Liveness and readiness for the orchestrator, and each backend's health as a metric.

- `/healthz` (liveness): the gateway's own process answers HTTP. Failing it restarts the pod, so it checks
  nothing else: a backend outage must never restart gateways.
- `/readyz` (readiness): the gateway can serve pages, i.e. its process answers and identity, which every
  signed-in page and sign-in itself need, answers its health check. Other backends being down does not take the
  gateway out of the load balancer: the pages degrade per section ("Tickets are unavailable right now") and the
  API answers 503 for that area only. The body lists every backend's state for people.
- `portal_gateway_backend_up{backend=...}`: 1 when that backend answered SERVING at the last check, else 0;
  checked every `GATEWAY_BACKEND_HEALTH_INTERVAL_SECONDS` in the background and on `/readyz` (cached for
  `GATEWAY_READINESS_CACHE_SECONDS`), so one backend's outage shows in metrics and alerts, not as a not-ready pod.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.edge.metrics import BACKEND_UP

router = APIRouter(include_in_schema=False)
log = logging.getLogger("gateway.health")

# What the gateway cannot serve any page without: sessions, sign-in and the principal of every request.
REQUIRED_BACKENDS = ("identity",)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def check_backends(app: FastAPI, *, max_age: float) -> dict[str, str]:
    """Every backend's health-check answer, at most `max_age` seconds old; updates the backend_up gauge."""
    state = app.state
    cached = state.readiness
    if cached is None or time.monotonic() - cached[0] > max_age:
        async with state.readiness_lock:
            cached = state.readiness
            if cached is None or time.monotonic() - cached[0] > max_age:
                backends = await state.backends.health(deadline=1.0)
                previous = cached[1] if cached else {}
                for name, status in backends.items():
                    BACKEND_UP.labels(name).set(1 if status == "SERVING" else 0)
                    if previous and previous.get(name) != status:
                        log.warning("backend %s: %s (was %s)", name, status, previous.get(name))
                cached = (time.monotonic(), backends)
                state.readiness = cached
    return cached[1]


async def watch_backends(app: FastAPI, interval: float) -> None:
    """Keep the backend_up gauge current when nothing probes /readyz (e.g. `make run`)."""
    while True:
        try:
            await check_backends(app, max_age=interval / 2)
        except Exception:  # never end the watch; the next round tries again
            log.exception("backend health check failed")
        await asyncio.sleep(interval)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    backends = await check_backends(request.app, max_age=request.app.state.settings.readiness_cache_seconds)
    ready = all(backends.get(name) == "SERVING" for name in REQUIRED_BACKENDS)
    degraded = sorted(name for name, status in backends.items() if status != "SERVING")
    return JSONResponse(
        {
            "status": "ready" if ready else "not ready",
            "required": list(REQUIRED_BACKENDS),
            "degraded": degraded,
            "backends": backends,
        },
        status_code=200 if ready else 503,
    )
