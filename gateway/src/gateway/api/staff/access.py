"""Staff JSON API for access (SPEC S2, P2, P4): the permission catalogue, permission groups, portal users (create,
group, invitation) and their second factor (require, reset)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff import Id, Name
from gateway.clients.identity import PermissionGroupMessage, PortalUserMessage
from servicekit import permissions as perm

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: identity"],
    responses=problems(400, 401, 403, 404, 409, 503),
)


class Permission(BaseModel):
    name: str
    label: str


class Group(BaseModel):
    id: str
    name: str
    permissions: list[str]
    built_in: bool
    member_count: int

    @classmethod
    def of(cls, g: PermissionGroupMessage) -> Group:
        return cls(
            id=g.id, name=g.name, permissions=list(g.permissions), built_in=g.built_in, member_count=g.member_count
        )


class GroupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    permissions: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default_factory=list, max_length=64)


class PortalUser(BaseModel):
    id: str
    customer_id: str
    contact_id: str
    login: str
    email: str
    group_name: str
    admin_override: bool = False
    require_mfa: bool = Field(False, description="Filled in the customer's list")
    mfa_enabled: bool = Field(False, description="Filled in the customer's list: an authenticator is confirmed")
    invitation_pending: bool = Field(False, description="Filled in the customer's list: no password chosen yet")

    @classmethod
    def of(cls, u: PortalUserMessage) -> PortalUser:
        return cls(
            id=u.id,
            customer_id=u.customer_id,
            contact_id=u.contact_id,
            login=u.login,
            email=u.email,
            group_name=u.group_name,
            admin_override=u.admin_override,
            require_mfa=u.require_mfa,
            mfa_enabled=u.mfa_enabled,
            invitation_pending=u.invitation_pending,
        )


class NewPortalUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: Annotated[str, StringConstraints(max_length=36)] = ""
    login: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] = ""
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Annotated[
        str, Field(max_length=1024, description="Leave empty to email an invitation to choose one (SPEC P2).")
    ] = ""
    group_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    require_mfa: bool = False


class GroupChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_name: Name


class RequireMfa(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_mfa: bool


class StaffMember(BaseModel):
    id: str
    name: str


@router.get("/directory", summary="The active staff: whom a ticket can be assigned to")
async def staff_directory(session: StaffApiSession, backends: Clients) -> list[StaffMember]:
    """Id and name of every active staff member, for any staff member (technicians too), in name order."""
    people = await backends.identity.staff_directory(session.principal_token)
    return [StaffMember(id=i, name=n) for i, n in people.items()]


@router.get("/permissions")
async def list_permissions(session: StaffApiSession) -> list[Permission]:
    """The permission catalogue, in SPEC P5's order."""
    return [Permission(name=name, label=label) for name, label in perm.CATALOGUE.items()]


@router.get("/permission-groups")
async def list_groups(session: StaffApiSession, backends: Clients) -> list[Group]:
    """Every group, the two built-in ones first."""
    return [Group.of(g) for g in await backends.identity.list_permission_groups(session.principal_token)]


@router.post("/permission-groups", status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupBody, session: StaffApiSession, backends: Clients) -> Group:
    group = await backends.identity.create_permission_group(
        session.principal_token, name=body.name, permissions=body.permissions
    )
    return Group.of(group)


@router.put("/permission-groups/{group_id}")
async def update_group(group_id: Id, body: GroupBody, session: StaffApiSession, backends: Clients) -> Group:
    """Rename and replace the permissions; the built-in groups are fixed (409)."""
    group = await backends.identity.update_permission_group(
        session.principal_token, group_id=group_id, name=body.name, permissions=body.permissions
    )
    return Group.of(group)


@router.delete("/permission-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Only a group nobody is in, and never a built-in one (409)."""
    await backends.identity.delete_permission_group(session.principal_token, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/customers/{customer_id}/portal-users")
async def list_portal_users(customer_id: Id, session: StaffApiSession, backends: Clients) -> list[PortalUser]:
    """The customer's portal users (its own and its contacts'), oldest first, with group, MFA and invitation state."""
    return [PortalUser.of(u) for u in await backends.identity.list_portal_users(session.principal_token, customer_id)]


@router.post("/customers/{customer_id}/portal-users", status_code=status.HTTP_201_CREATED)
async def create_portal_user(
    customer_id: Id, body: NewPortalUser, session: StaffApiSession, backends: Clients
) -> PortalUser:
    """A portal user for the customer or one of its contacts; without a password it is emailed an invitation."""
    user = await backends.identity.create_portal_user(
        session.principal_token, customer_id=customer_id, **body.model_dump()
    )
    return PortalUser.of(user)


@router.put("/portal-users/{portal_user_id}/group")
async def set_group(portal_user_id: Id, body: GroupChoice, session: StaffApiSession, backends: Clients) -> PortalUser:
    user = await backends.identity.set_portal_user_group(
        session.principal_token, portal_user_id=portal_user_id, group_name=body.group_name
    )
    return PortalUser.of(user)


@router.post("/portal-users/{portal_user_id}/invitation", status_code=status.HTTP_204_NO_CONTENT)
async def invite(portal_user_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Email a new invitation link (the previous one stops working)."""
    await backends.identity.invite_portal_user(session.principal_token, portal_user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/portal-users/{portal_user_id}/require-mfa", status_code=status.HTTP_204_NO_CONTENT)
async def require_mfa(portal_user_id: Id, body: RequireMfa, session: StaffApiSession, backends: Clients) -> Response:
    await backends.identity.set_require_mfa(
        session.principal_token, portal_user_id=portal_user_id, require_mfa=body.require_mfa
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/portal-users/{portal_user_id}/mfa", status_code=status.HTTP_204_NO_CONTENT)
async def reset_mfa(portal_user_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Remove the user's authenticator and recovery codes (a lost phone)."""
    await backends.identity.reset_mfa(session.principal_token, portal_user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
