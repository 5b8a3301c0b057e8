"""Custom fields (SPEC C4): proto ⇄ domain only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.custom_fields import service as custom_fields
from identity.custom_fields.protos import field_to_proto, options_from_proto
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class CustomFieldRpcs(Rpcs):
    async def ListCustomFields(self, request: identity_pb2.ListCustomFieldsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await custom_fields.list_fields(s, principal=principal)
            return identity_pb2.ListCustomFieldsResponse(fields=[field_to_proto(f) for f in rows])

    async def CreateCustomField(self, request: identity_pb2.CreateCustomFieldRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreateCustomFieldResponse:
            field = await custom_fields.create_field(
                s,
                principal=principal,
                name=request.name,
                field_type=request.type,
                options=options_from_proto(request.options),
            )
            return identity_pb2.CreateCustomFieldResponse(field=field_to_proto(field))

        return await self._write(work)

    async def UpdateCustomField(self, request: identity_pb2.UpdateCustomFieldRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.UpdateCustomFieldResponse:
            field = await custom_fields.update_field(
                s,
                principal=principal,
                field_id=request.field_id,
                name=request.name,
                options=options_from_proto(request.options),
                position=request.position,
            )
            return identity_pb2.UpdateCustomFieldResponse(field=field_to_proto(field))

        return await self._write(work)

    async def DeleteCustomField(self, request: identity_pb2.DeleteCustomFieldRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await custom_fields.delete_field(s, principal=principal, field_id=request.field_id)
        return identity_pb2.DeleteCustomFieldResponse()
