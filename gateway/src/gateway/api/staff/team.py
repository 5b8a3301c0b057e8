"""Staff JSON API for the team (SPEC S1): staff accounts, admin only. Identity refuses a technician (403) on every
route here; the gateway only passes the calls on. The invite takes an `Idempotency-Key` header (a retry returns the
first staff member and sends no second email)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff import Id
from gateway.clients.identity import StaffUserMessage
from gateway.edge.idempotency import IDEMPOTENCY_KEY

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: team"],
    responses=problems(400, 401, 403, 404, 409, 503),
)

KEY_HELP = (
    "16-64 letters, digits, - or _; repeat it to get the first invitation's staff member instead of a second one."
)
Role = Literal["admin", "technician"]


class StaffUser(BaseModel):
    id: str
    login: str
    email: str
    name: str
    role: str
    active: bool
    mfa_enabled: bool
    invitation_pending: bool

    @classmethod
    def of(cls, u: StaffUserMessage) -> StaffUser:
        return cls(
            id=u.id,
            login=u.login,
            email=u.email,
            name=u.name,
            role=u.role,
            active=u.active,
            mfa_enabled=u.mfa_enabled,
            invitation_pending=u.invitation_pending,
        )


class NewStaffUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    role: Role
    language: Literal["en", "fr"] = "en"


class RoleChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class ActiveChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool


class Language(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "fr"] = "en"


@router.get("/staff-users", summary="List the staff (admins only)")
async def list_staff(session: StaffApiSession, backends: Clients) -> list[StaffUser]:
    """Every staff member, active ones first: role, whether MFA is set up, whether the invitation is outstanding."""
    return [StaffUser.of(u) for u in await backends.identity.list_staff_users(session.principal_token)]


@router.post("/staff-users", status_code=status.HTTP_201_CREATED, summary="Invite a staff member (admins only)")
async def invite_staff(
    body: NewStaffUser,
    session: StaffApiSession,
    backends: Clients,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", max_length=200, description=KEY_HELP)] = "",
) -> StaffUser:
    """A new staff member with a role, emailed a single-use link (7 days) to choose its password at
    /staff/invitation. Admins must then set up MFA at their first sign-in where the deployment requires it."""
    if not IDEMPOTENCY_KEY.match(idempotency_key):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Idempotency-Key: send this header of {KEY_HELP}")
    user = await backends.identity.invite_staff_user(
        session.principal_token,
        email=body.email,
        name=body.name,
        role=body.role,
        idempotency_key=idempotency_key,
        language=body.language,
    )
    return StaffUser.of(user)


@router.post("/staff-users/{staff_user_id}/invitation", summary="Send a new invitation (admins only)")
async def resend_invitation(
    staff_user_id: Id, body: Language, session: StaffApiSession, backends: Clients
) -> StaffUser:
    """Only for a member that has not chosen its password yet (409 otherwise); the earlier link stops working."""
    user = await backends.identity.resend_staff_invitation(
        session.principal_token, staff_user_id=staff_user_id, language=body.language
    )
    return StaffUser.of(user)


@router.put("/staff-users/{staff_user_id}/role", summary="Change a staff member's role (admins only)")
async def set_role(staff_user_id: Id, body: RoleChoice, session: StaffApiSession, backends: Clients) -> StaffUser:
    """The last active admin cannot be made a technician (409)."""
    user = await backends.identity.set_staff_role(session.principal_token, staff_user_id=staff_user_id, role=body.role)
    return StaffUser.of(user)


@router.put("/staff-users/{staff_user_id}/active", summary="Deactivate or reactivate (admins only)")
async def set_active(staff_user_id: Id, body: ActiveChoice, session: StaffApiSession, backends: Clients) -> StaffUser:
    """Deactivating ends every session of the member and stops its sign-in; you cannot deactivate yourself or the
    last active admin (409)."""
    user = await backends.identity.set_staff_active(
        session.principal_token, staff_user_id=staff_user_id, active=body.active
    )
    return StaffUser.of(user)


@router.delete("/staff-users/{staff_user_id}/mfa", summary="Reset a staff member's MFA (admins only)")
async def reset_mfa(staff_user_id: Id, session: StaffApiSession, backends: Clients) -> StaffUser:
    """Remove the member's authenticator and recovery codes (a lost phone); an admin enrols again at sign-in."""
    user = await backends.identity.reset_staff_mfa(session.principal_token, staff_user_id=staff_user_id)
    return StaffUser.of(user)
