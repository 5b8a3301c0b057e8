"""The audit log for staff: proto ⇄ domain only."""

from __future__ import annotations

import json
from datetime import UTC

from identity.audit import service as audit
from identity.rpcs import Rpcs
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal
from servicekit.protos import timestamp


class AuditRpcs(Rpcs):
    async def ListAuditEntries(self, request: identity_pb2.ListAuditEntriesRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            page = await audit.list_entries(
                s,
                principal=principal,
                size=request.page.page_size,
                cursor=request.page.cursor,
                kind=request.kind,
                subject=request.subject,
                since=request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None,
                until=request.until.ToDatetime(tzinfo=UTC) if request.HasField("until") else None,
            )
        return identity_pb2.ListAuditEntriesResponse(
            entries=[
                identity_pb2.AuditEntry(
                    id=e.id,
                    kind=e.kind,
                    subject=e.subject,
                    address=e.address,
                    at=timestamp(e.at),
                    detail_json=json.dumps(e.detail or {}, sort_keys=True, default=str),
                )
                for e in page.entries
            ],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
            kinds=list(audit.KINDS),
        )
