"""Secure links (SPEC P6): opening one, and staff making, listing and revoking them. Proto ⇄ domain only."""

from __future__ import annotations

from datetime import timedelta

from identity.rpcs import Rpcs
from identity.secure_links import service as secure_links
from identity.secure_links.protos import LINK_SCOPES, secure_link_to_proto, use_to_proto
from portal.identity.v1 import identity_pb2
from servicekit.errors import InvalidArgument
from servicekit.principal import current_principal
from servicekit.protos import timestamp


class SecureLinkRpcs(Rpcs):
    async def OpenSecureLink(self, request: identity_pb2.OpenSecureLinkRequest, context):  # noqa: N802, ANN001
        opened = await secure_links.open_link(
            self.db,
            token=request.token,
            client_address=request.client_address,
            user_agent=request.user_agent,
            policy=self.policy,
        )
        return identity_pb2.OpenSecureLinkResponse(
            session_token=opened.token,
            expires_at=timestamp(opened.session.expires_at),
            principal=opened.principal.to_proto(),
        )

    async def CreateSecureLink(self, request: identity_pb2.CreateSecureLinkRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        # Bounds the seconds before they become a timedelta; the service checks the lifetime itself.
        if request.expires_in_seconds < 0 or request.expires_in_seconds > 10 * 365 * 86400:
            raise InvalidArgument("a link lives between 1 minute and 90 days", field="expires_in_seconds")
        async with self.db.unit_of_work() as s:
            created = await secure_links.create_link(
                s,
                principal=principal,
                customer_id=request.customer_id,
                scope=LINK_SCOPES.get(request.scope, ""),
                scope_id=request.scope_id,
                lifetime=timedelta(seconds=request.expires_in_seconds) if request.expires_in_seconds else None,
                single_use=request.single_use,
            )
            link = secure_link_to_proto(created.link)
        return identity_pb2.CreateSecureLinkResponse(
            link=link,
            token=created.token,
            url=f"{self.portal_url.rstrip('/')}/link?token={created.token}",
        )

    async def ListSecureLinks(self, request: identity_pb2.ListSecureLinksRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await secure_links.list_links(s, principal=principal, customer_id=request.customer_id)
            return identity_pb2.ListSecureLinksResponse(links=[secure_link_to_proto(x) for x in rows])

    async def RevokeSecureLink(self, request: identity_pb2.RevokeSecureLinkRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            link = await secure_links.revoke_link(s, principal=principal, link_id=request.link_id)
            return identity_pb2.RevokeSecureLinkResponse(link=secure_link_to_proto(link))

    async def ListSecureLinkUses(self, request: identity_pb2.ListSecureLinkUsesRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            uses = await secure_links.list_uses(s, principal=principal, link_id=request.link_id)
        return identity_pb2.ListSecureLinkUsesResponse(uses=[use_to_proto(u) for u in uses])
