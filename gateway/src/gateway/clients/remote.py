"""RemoteService: script runs on the principal's devices."""

from __future__ import annotations

import grpc

from gateway.clients._call import Caller
from gateway.clients.schemas import Page, ScriptRun
from portal.common.v1 import common_pb2
from portal.remote.v1 import remote_pb2, remote_pb2_grpc


class RemoteClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = remote_pb2_grpc.RemoteServiceStub(channel)
        self._call = Caller("remote", timeout)

    async def list_script_runs(self, token: str, *, page_size: int = 0, cursor: str = "") -> Page[ScriptRun]:
        req = remote_pb2.ListScriptRunsRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))
        resp = await self._call(self._stub.ListScriptRuns, req, token)
        return Page(
            items=[ScriptRun.from_proto(r) for r in resp.script_runs], next_cursor=resp.page.next_cursor or None
        )
