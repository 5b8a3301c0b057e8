"""portal.remote.v1.RemoteService: proto ⇄ domain; the rules live in the aggregates' service modules."""

from __future__ import annotations

import grpc

from portal.common.v1 import common_pb2
from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from remote.script_runs import service as script_runs
from remote.script_runs.models import ScriptRun
from servicekit.db import Database
from servicekit.pagination import page_size
from servicekit.principal import current_principal
from servicekit.protos import timestamp


class RemoteServicer(remote_pb2_grpc.RemoteServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListScriptRuns(
        self, request: remote_pb2.ListScriptRunsRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.ListScriptRunsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.read() as conn:
            page = await script_runs.list_script_runs(
                conn, principal=principal, page_size=size, cursor=request.page.cursor
            )
        return remote_pb2.ListScriptRunsResponse(
            script_runs=[_script_run(r) for r in page.script_runs],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )


def _script_run(run: ScriptRun) -> remote_pb2.ScriptRun:
    msg = remote_pb2.ScriptRun(
        id=run.id,
        customer_id=run.customer_id,
        asset_id=run.asset_id,
        script_name=run.script_name,
        status=run.status,
        # 0 while the run has not finished; `status` says which.
        exit_code=run.exit_code or 0,
        started_at=timestamp(run.started_at),
    )
    if run.finished_at is not None:
        msg.finished_at.CopyFrom(timestamp(run.finished_at))
    return msg
