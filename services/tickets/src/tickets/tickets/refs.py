"""The site and asset a ticket names must be its customer's (T8): asked of the assets service over gRPC.

Called before the creating unit of work opens, never inside it: in the SQLite mode a process has one connection,
and a transaction held across a network call would stall every other request of the process.
"""

from __future__ import annotations

import logging

import grpc

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from servicekit.errors import InvalidArgument, PermissionDenied, Unavailable
from servicekit.grpc_client import call_options

log = logging.getLogger(__name__)


class RefChecker:
    """Checks a customer's site and asset ids with the assets service, as the calling principal."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float) -> None:
        self._stub = assets_pb2_grpc.AssetsServiceStub(channel)
        self._timeout = timeout

    async def check(self, token: str, *, customer_id: str, site_id: str, asset_id: str) -> None:
        """Return quietly when both ids (each optional) are the customer's; raise a clear error otherwise."""
        if not site_id and not asset_id:
            return
        request = assets_pb2.CheckCustomerRefsRequest(customer_id=customer_id, site_id=site_id, asset_id=asset_id)
        try:
            reply = await self._stub.CheckCustomerRefs(request, **call_options(token, timeout=self._timeout))
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(err.details() or "the site or asset is not valid") from None
            if code == grpc.StatusCode.PERMISSION_DENIED:
                raise PermissionDenied("you may not refer to this customer's sites and assets") from None
            log.warning("assets did not answer the site/asset check: %s", code.name)
            raise Unavailable(
                "the site and asset cannot be checked right now (the assets service is unavailable); "
                "nothing was saved, try again shortly"
            ) from None
        if not reply.site_ok:
            raise InvalidArgument("no such site for this customer", field="site_id")
        if not reply.asset_ok:
            raise InvalidArgument("no such asset for this customer", field="asset_id")
