"""Staff JSON API for identity (SPEC S2, P2, P4, P5): permission groups, portal users, portal settings.

Staff sign in with `POST /api/v1/staff/sessions` and send that token as the bearer; a portal session gets 403.
Identity enforces the same rule itself (PERMISSION_DENIED for any non-staff principal)."""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import ApiUnauthenticated, Clients, CurrentSession
from gateway.api.errors import PROBLEM_MEDIA_TYPE
from gateway.api.schemas import SessionCreated, SignInBody
from gateway.clients.identity import AUDIENCE_STAFF
from gateway.sessions import Session
from portal.identity.v1 import identity_pb2
from servicekit import permissions as perm
from servicekit.principal import KIND_STAFF

_PROBLEM = {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: identity"],
    responses={code: _PROBLEM for code in (400, 401, 403, 404, 409, 503)},
)
Id = Annotated[str, Path(min_length=1, max_length=36)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


async def staff_session(session: CurrentSession) -> Session:
    if session.principal.kind != KIND_STAFF:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only staff sessions may use the staff API")
    return session


StaffSession = Annotated[Session, Depends(staff_session)]


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
    def of(cls, g: identity_pb2.PermissionGroup) -> Group:
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

    @classmethod
    def of(cls, u: identity_pb2.PortalUser) -> PortalUser:
        return cls(
            id=u.id,
            customer_id=u.customer_id,
            contact_id=u.contact_id,
            login=u.login,
            email=u.email,
            group_name=u.group_name,
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


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    always_invite_new_customers: bool


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
async def create_staff_session(body: SignInBody, request: Request, backends: Clients) -> SessionCreated:
    """Staff sign-in; the answer's token authenticates the staff API."""
    try:
        result = await backends.identity.sign_in(
            login=body.login,
            password=body.password,
            audience=AUDIENCE_STAFF,
            client_address=request.client.host if request.client else "",
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
            raise ApiUnauthenticated("the login and password do not match") from None
        raise
    return SessionCreated(session_token=result.session_token, expires_at=result.expires_at)


@router.get("/permissions")
async def list_permissions(session: StaffSession) -> list[Permission]:
    """The permission catalogue, in SPEC P5's order."""
    return [Permission(name=name, label=label) for name, label in perm.CATALOGUE.items()]


@router.get("/permission-groups")
async def list_groups(session: StaffSession, backends: Clients) -> list[Group]:
    """Every group, the two built-in ones first."""
    return [Group.of(g) for g in await backends.identity.list_permission_groups(session.principal_token)]


@router.post("/permission-groups", status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupBody, session: StaffSession, backends: Clients) -> Group:
    group = await backends.identity.create_permission_group(
        session.principal_token, name=body.name, permissions=body.permissions
    )
    return Group.of(group)


@router.put("/permission-groups/{group_id}")
async def update_group(group_id: Id, body: GroupBody, session: StaffSession, backends: Clients) -> Group:
    """Rename and replace the permissions; the built-in groups are fixed (409)."""
    group = await backends.identity.update_permission_group(
        session.principal_token, group_id=group_id, name=body.name, permissions=body.permissions
    )
    return Group.of(group)


@router.delete("/permission-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: Id, session: StaffSession, backends: Clients) -> Response:
    """Only a group nobody is in, and never a built-in one (409)."""
    await backends.identity.delete_permission_group(session.principal_token, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/customers/{customer_id}/portal-users", status_code=status.HTTP_201_CREATED)
async def create_portal_user(
    customer_id: Id, body: NewPortalUser, session: StaffSession, backends: Clients
) -> PortalUser:
    """A portal user for the customer or one of its contacts; without a password it is emailed an invitation."""
    user = await backends.identity.create_portal_user(
        session.principal_token, customer_id=customer_id, **body.model_dump()
    )
    return PortalUser.of(user)


@router.put("/portal-users/{portal_user_id}/group")
async def set_group(portal_user_id: Id, body: GroupChoice, session: StaffSession, backends: Clients) -> PortalUser:
    user = await backends.identity.set_portal_user_group(
        session.principal_token, portal_user_id=portal_user_id, group_name=body.group_name
    )
    return PortalUser.of(user)


@router.post("/portal-users/{portal_user_id}/invitation", status_code=status.HTTP_204_NO_CONTENT)
async def invite(portal_user_id: Id, session: StaffSession, backends: Clients) -> Response:
    """Email a new invitation link (the previous one stops working)."""
    await backends.identity.invite_portal_user(session.principal_token, portal_user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/portal-users/{portal_user_id}/require-mfa", status_code=status.HTTP_204_NO_CONTENT)
async def require_mfa(portal_user_id: Id, body: RequireMfa, session: StaffSession, backends: Clients) -> Response:
    await backends.identity.set_require_mfa(
        session.principal_token, portal_user_id=portal_user_id, require_mfa=body.require_mfa
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/portal-users/{portal_user_id}/mfa", status_code=status.HTTP_204_NO_CONTENT)
async def reset_mfa(portal_user_id: Id, session: StaffSession, backends: Clients) -> Response:
    """Remove the user's authenticator and recovery codes (a lost phone)."""
    await backends.identity.reset_mfa(session.principal_token, portal_user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/settings")
async def get_settings(session: StaffSession, backends: Clients) -> PortalSettings:
    s = await backends.identity.get_portal_settings(session.principal_token)
    return PortalSettings(always_invite_new_customers=s.always_invite_new_customers)


@router.put("/settings")
async def put_settings(body: PortalSettings, session: StaffSession, backends: Clients) -> PortalSettings:
    s = await backends.identity.update_portal_settings(
        session.principal_token, always_invite_new_customers=body.always_invite_new_customers
    )
    return PortalSettings(always_invite_new_customers=s.always_invite_new_customers)


class Archived(BaseModel):
    model_config = ConfigDict(extra="forbid")

    archived: bool


class CustomerState(BaseModel):
    id: str
    display_name: str
    archived: bool


@router.put("/customers/{customer_id}/archived")
async def set_archived(customer_id: Id, body: Archived, session: StaffSession, backends: Clients) -> CustomerState:
    """Archive (its portal users are signed out and cannot sign in) or re-enable a customer (SPEC C5)."""
    c = await backends.identity.set_customer_archived(
        session.principal_token, customer_id=customer_id, archived=body.archived
    )
    return CustomerState(id=c.id, display_name=c.display_name, archived=c.archived)
