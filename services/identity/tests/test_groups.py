"""Permission groups over gRPC (SPEC P5): staff CRUD, the catalogue, the two built-in groups, one group per user."""

from __future__ import annotations

import grpc

from portal.identity.v1 import identity_pb2
from servicekit import permissions as perm
from servicekit.principal import TokenVerifier, bearer_metadata

STAFF = identity_pb2.AUDIENCE_STAFF


async def principal_token(stub, login: str, password: str, audience: int = identity_pb2.AUDIENCE_PORTAL) -> str:  # noqa: ANN001
    signed = await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=audience))
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return resolved.principal_token


async def status_of(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    raise AssertionError("the call succeeded")


async def _staff(stub, passwords):  # noqa: ANN001, ANN202
    return bearer_metadata(await principal_token(stub, "admin@example.test", passwords["staff"], STAFF))


async def test_built_in_groups_are_listed_first_with_the_whole_catalogue_and_cannot_change(stub, world, passwords):
    md = await _staff(stub, passwords)
    listed = (await stub.ListPermissionGroups(identity_pb2.ListPermissionGroupsRequest(), metadata=md)).groups
    by_name = {g.name: g for g in listed}
    assert [g.built_in for g in listed[:2]] == [True, True]
    assert set(by_name[perm.ADMIN_PORTAL_GROUP].permissions) == set(perm.CATALOGUE)
    assert list(by_name[perm.NON_PORTAL_USER_GROUP].permissions) == [perm.TICKETS_VIEW_MINE]
    assert by_name[perm.ADMIN_PORTAL_GROUP].member_count == 1  # Alice
    admin_id = by_name[perm.ADMIN_PORTAL_GROUP].id
    code, _ = await status_of(
        stub.UpdatePermissionGroup(
            identity_pb2.UpdatePermissionGroupRequest(group_id=admin_id, name="Mine now", permissions=[]), metadata=md
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = await status_of(
        stub.DeletePermissionGroup(identity_pb2.DeletePermissionGroupRequest(group_id=admin_id), metadata=md)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_staff_create_update_move_a_user_and_delete_an_empty_group(stub, world, passwords, signing_key):
    md = await _staff(stub, passwords)
    created = (
        await stub.CreatePermissionGroup(
            identity_pb2.CreatePermissionGroupRequest(
                name="Billing only",
                permissions=[perm.INVOICES_VIEW_ALL, perm.INVOICES_PAY_ONLINE, perm.INVOICES_VIEW_ALL],
            ),
            metadata=md,
        )
    ).group
    assert list(created.permissions) == sorted([perm.INVOICES_PAY_ONLINE, perm.INVOICES_VIEW_ALL])
    code, details = await status_of(
        stub.CreatePermissionGroup(identity_pb2.CreatePermissionGroupRequest(name="billing ONLY"), metadata=md)
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.ALREADY_EXISTS, "name")
    code, details = await status_of(
        stub.CreatePermissionGroup(
            identity_pb2.CreatePermissionGroupRequest(name="Odd", permissions=["tickets.delete_all"]), metadata=md
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "permissions")

    updated = (
        await stub.UpdatePermissionGroup(
            identity_pb2.UpdatePermissionGroupRequest(
                group_id=created.id, name="Billing", permissions=[perm.INVOICES_VIEW_MINE]
            ),
            metadata=md,
        )
    ).group
    assert (updated.name, list(updated.permissions)) == ("Billing", [perm.INVOICES_VIEW_MINE])

    moved = (
        await stub.SetPortalUserGroup(
            identity_pb2.SetPortalUserGroupRequest(portal_user_id=world.alice, group_name="Billing"), metadata=md
        )
    ).portal_user
    assert moved.group_name == "Billing"
    alice_token = await principal_token(stub, "alice@acme.test", passwords["alice"])
    assert TokenVerifier([signing_key.public_key()]).verify(alice_token).permissions == {perm.INVOICES_VIEW_MINE}

    code, details = await status_of(
        stub.DeletePermissionGroup(identity_pb2.DeletePermissionGroupRequest(group_id=created.id), metadata=md)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "1 portal user" in details
    await stub.SetPortalUserGroup(
        identity_pb2.SetPortalUserGroupRequest(portal_user_id=world.alice, group_name=perm.ADMIN_PORTAL_GROUP),
        metadata=md,
    )
    await stub.DeletePermissionGroup(identity_pb2.DeletePermissionGroupRequest(group_id=created.id), metadata=md)
    names = {
        g.name
        for g in (await stub.ListPermissionGroups(identity_pb2.ListPermissionGroupsRequest(), metadata=md)).groups
    }
    assert "Billing" not in names
    code, _ = await status_of(
        stub.DeletePermissionGroup(identity_pb2.DeletePermissionGroupRequest(group_id=created.id), metadata=md)
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_portal_users_cannot_manage_groups(stub, world, passwords):
    md = bearer_metadata(await principal_token(stub, "alice@acme.test", passwords["alice"]))
    for call in (
        stub.ListPermissionGroups(identity_pb2.ListPermissionGroupsRequest(), metadata=md),
        stub.CreatePermissionGroup(identity_pb2.CreatePermissionGroupRequest(name="Mine"), metadata=md),
        stub.SetPortalUserGroup(
            identity_pb2.SetPortalUserGroupRequest(portal_user_id=world.alice, group_name="Admin Portal Group"),
            metadata=md,
        ),
    ):
        code, _ = await status_of(call)
        assert code == grpc.StatusCode.PERMISSION_DENIED
