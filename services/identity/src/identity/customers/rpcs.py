"""Customers (SPEC C1, C3-C6): proto ⇄ domain only; what a create or update decides is in customers.service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.custom_fields import service as custom_fields
from identity.customers import service as customers
from identity.customers.protos import (
    customer_to_proto,
    details_from_proto,
    full_customer,
    holders_to_proto,
    privacy_to_proto,
)
from identity.rpcs import Rpcs
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class CustomerRpcs(Rpcs):
    async def GetCustomer(self, request: identity_pb2.GetCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            customer = await customers.get_customer(s, principal=principal, customer_id=request.customer_id)
            subsidiaries = await customers.subsidiaries(s, customer.id) if principal.is_staff else []
            return identity_pb2.GetCustomerResponse(
                customer=await full_customer(s, customer, principal),
                subsidiaries=[customer_to_proto(c) for c in subsidiaries],
            )

    async def CreateCustomer(self, request: identity_pb2.CreateCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        details = details_from_proto(request)

        async def work(s: AsyncSession) -> identity_pb2.CreateCustomerResponse:
            customer = await customers.create_customer(
                s,
                principal=principal,
                business_name=request.business_name,
                first_name=request.first_name,
                last_name=request.last_name,
                email=request.email,
                idempotency_key=request.idempotency_key,
                details=details,
            )
            await customers.invite_new_customer(
                s,
                principal=principal,
                customer=customer,
                access=details.portal_access,
                portal_url=self.portal_url,
                box=self.box,
            )
            return identity_pb2.CreateCustomerResponse(customer=await full_customer(s, customer, principal))

        return await self._write(work)

    async def ListCustomers(self, request: identity_pb2.ListCustomersRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows, next_cursor = await customers.list_customers(
                s,
                principal=principal,
                size=request.page.page_size,
                cursor=request.page.cursor,
                parent_id=request.parent_id,
                query_text=request.query,
            )
            answers = await custom_fields.answers_of(s, [c.id for c in rows])
            return identity_pb2.ListCustomersResponse(
                customers=[customer_to_proto(c, answers=answers[c.id]) for c in rows],
                page=common_pb2.PageResponse(next_cursor=next_cursor),
            )

    async def UpdateCustomer(self, request: identity_pb2.UpdateCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        details = details_from_proto(request)

        async def work(s: AsyncSession) -> identity_pb2.UpdateCustomerResponse:
            customer = await customers.update_customer(
                s,
                principal=principal,
                customer_id=request.customer_id,
                business_name=request.business_name,
                first_name=request.first_name,
                last_name=request.last_name,
                email=request.email,
                details=details,
            )
            if details.portal_access is not None:
                await customers.update_portal_access(
                    s,
                    principal=principal,
                    customer=customer,
                    access=details.portal_access,
                    portal_url=self.portal_url,
                    box=self.box,
                )
            return identity_pb2.UpdateCustomerResponse(customer=await full_customer(s, customer, principal))

        return await self._write(work)

    async def SetCustomerArchived(self, request: identity_pb2.SetCustomerArchivedRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            customer = await customers.set_archived(
                s, principal=principal, customer_id=request.customer_id, archived=request.archived
            )
            return identity_pb2.SetCustomerArchivedResponse(customer=await full_customer(s, customer, principal))

    async def GetPrivacySettings(self, request: identity_pb2.GetPrivacySettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            customer = await customers.privacy_customer(s, principal=principal, customer_id=request.customer_id)
            return identity_pb2.GetPrivacySettingsResponse(settings=privacy_to_proto(customer))

    async def UpdatePrivacySettings(self, request: identity_pb2.UpdatePrivacySettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        values = {name: getattr(request.settings, name) for name in customers.PRIVACY_FIELDS}
        async with self.db.unit_of_work() as s:
            customer = await customers.set_privacy(
                s, principal=principal, customer_id=request.customer_id, values=values
            )
            return identity_pb2.UpdatePrivacySettingsResponse(settings=privacy_to_proto(customer))

    async def GetCustomerDataHolders(self, request: identity_pb2.GetCustomerDataHoldersRequest, context):  # noqa: N802, ANN001
        held = await customers.holdings(
            self.db, self.holders, principal=current_principal(), customer_id=request.customer_id
        )
        return holders_to_proto(held)

    async def DeleteCustomer(self, request: identity_pb2.DeleteCustomerRequest, context):  # noqa: N802, ANN001
        await customers.delete_unheld_customer(
            self.db, self.holders, principal=current_principal(), customer_id=request.customer_id
        )
        return identity_pb2.DeleteCustomerResponse()
