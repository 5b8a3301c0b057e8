"""The baseline the portal home is measured against: a bare FastAPI route making six concurrent grpc.aio
calls to a trivial gRPC server (the standard health service), served by uvicorn like the gateway.

    python bench/baseline_app.py server PORT      # the trivial gRPC server
    python bench/baseline_app.py app PORT GRPC    # the bare route at /
"""

from __future__ import annotations

import asyncio
import sys


async def _server(port: int) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_health.v1._async import HealthServicer

    server = grpc.aio.server()
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()


def _app(grpc_addr: str):  # noqa: ANN202
    from contextlib import asynccontextmanager

    import grpc
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    state: dict = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        channel = grpc.aio.insecure_channel(grpc_addr)
        state["stub"] = health_pb2_grpc.HealthStub(channel)
        yield
        await channel.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        stub = state["stub"]
        replies = await asyncio.gather(*(stub.Check(health_pb2.HealthCheckRequest(), timeout=5) for _ in range(6)))
        return "<ul>" + "".join(f"<li>{r.status}</li>" for r in replies) + "</ul>"

    return app


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    if role == "server":
        asyncio.run(_server(port))
    else:
        import uvicorn

        uvicorn.run(_app(sys.argv[3]), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
