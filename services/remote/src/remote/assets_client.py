"""Remote's view of an asset: asked of the assets service with the caller's own principal token, so an asset the
caller may not see is NOT_FOUND here as there, and the asset's customer comes from assets, never from a request."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from servicekit.errors import NotFound, Unavailable
from servicekit.grpc_client import call_options
from servicekit.principal import METADATA_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssetInfo:
    id: str
    customer_id: str
    name: str
    # The contact the asset is assigned to ("" when none): whose "Mine" view shows it.
    contact_id: str = ""


class AssetsClient:
    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = 3.0) -> None:
        self._stub = assets_pb2_grpc.AssetsServiceStub(channel)
        self._timeout = timeout

    async def get(self, token: str, asset_id: str) -> AssetInfo:
        """The asset as the caller may see it; NotFound when it may not (or it does not exist)."""
        if not asset_id:
            raise NotFound("no such asset", field="asset_id")
        try:
            reply = await self._stub.GetAsset(
                assets_pb2.GetAssetRequest(asset_id=asset_id), **call_options(token, timeout=self._timeout)
            )
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.INVALID_ARGUMENT,
            ):
                raise NotFound("no such asset", field="asset_id") from None
            log.warning("assets did not answer GetAsset: %s", code.name)
            raise Unavailable("the asset cannot be checked right now (the assets service is unavailable)") from None
        return AssetInfo(reply.asset.id, reply.asset.customer_id, reply.asset.name, reply.asset.contact_id)

    async def visible(self, token: str, asset_id: str) -> AssetInfo | None:
        try:
            return await self.get(token, asset_id)
        except NotFound:
            return None


def caller_token(context: grpc.aio.ServicerContext) -> str:
    """The caller's principal token (already verified by the server's interceptor), to forward to assets."""
    auth = dict(context.invocation_metadata() or ()).get(METADATA_KEY, "")
    return auth.removeprefix("Bearer ")
