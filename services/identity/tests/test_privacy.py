"""Privacy settings (SPEC P10): the customer's own, with Privacy Settings - Manage; staff any; others NOT_FOUND."""

from __future__ import annotations

import grpc

from portal.identity.v1 import identity_pb2
from servicekit.principal import bearer_metadata

PORTAL = identity_pb2.AUDIENCE_PORTAL


async def md_of(stub, login: str, password: str, audience: int = PORTAL):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=audience))
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_own_preferences_with_the_permission_only(stub, world, passwords):
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])  # Admin Portal Group
    got = await stub.GetPrivacySettings(identity_pb2.GetPrivacySettingsRequest(), metadata=alice)
    assert got.settings.receive_marketing_emails and got.settings.receive_billing_emails
    off = identity_pb2.PrivacySettings(receive_billing_emails=True, receive_marketing_emails=False)
    changed = await stub.UpdatePrivacySettings(identity_pb2.UpdatePrivacySettingsRequest(settings=off), metadata=alice)
    assert (changed.settings.receive_marketing_emails, changed.settings.receive_report_emails) == (False, False)

    other = identity_pb2.GetPrivacySettingsRequest(customer_id=world.customer_b)
    assert await code_of(stub.GetPrivacySettings(other, metadata=alice)) == grpc.StatusCode.NOT_FOUND
    bob = await md_of(stub, "bob.blue", passwords["bob"])  # Non-Portal User Group
    own = identity_pb2.GetPrivacySettingsRequest()
    assert await code_of(stub.GetPrivacySettings(own, metadata=bob)) == grpc.StatusCode.PERMISSION_DENIED

    staff = await md_of(stub, "admin@example.test", passwords["staff"], identity_pb2.AUDIENCE_STAFF)
    seen = await stub.GetPrivacySettings(
        identity_pb2.GetPrivacySettingsRequest(customer_id=world.customer_a), metadata=staff
    )
    assert not seen.settings.receive_marketing_emails
