"""Staff JSON API for secure links (SPEC P6): create a link to one ticket, one site or the whole customer, list a
customer's links, revoke one, read its audit trail of uses.

The token is in the creating answer only (as `token` and in `url`); identity keeps only its SHA-256, so no later
answer can hold it. The gateway checks with tickets or assets that the ticket or site is the customer's before
asking identity for the link; even a wrong id could open nothing, as the tickets service filters a link's
principal by its customer as well as by its ticket or site."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff import Id
from gateway.areas.secure_links import WrongScope, check_scope
from gateway.clients.identity import SECURE_LINK_SCOPES, SecureLinkMessage
from gateway.clients.schemas import opt_datetime

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: secure links"],
    responses=problems(400, 401, 403, 404, 503),
)

Scope = Literal["ticket", "site", "customer"]
_SCOPE_NAMES = {v: k for k, v in SECURE_LINK_SCOPES.items()}


class NewSecureLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope
    scope_id: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=64), Field(description="The ticket or site id.")
    ] = ""
    expires_in_seconds: Annotated[
        int, Field(ge=60, le=90 * 86400, description="How long the link works (default 7 days, at most 90).")
    ] = 7 * 86400
    single_use: bool = False


class SecureLink(BaseModel):
    id: str
    customer_id: str
    scope: str
    scope_id: str
    expires_at: datetime | None
    single_use: bool
    used_at: datetime | None
    use_count: int
    revoked_at: datetime | None
    created_by: str
    created_at: datetime | None
    state: Literal["active", "expired", "revoked", "used"]

    @classmethod
    def of(cls, x: SecureLinkMessage) -> SecureLink:
        return cls(
            id=x.id,
            customer_id=x.customer_id,
            scope=_SCOPE_NAMES.get(x.scope, ""),
            scope_id=x.scope_id,
            expires_at=opt_datetime(x, "expires_at"),
            single_use=x.single_use,
            used_at=opt_datetime(x, "used_at"),
            use_count=x.use_count,
            revoked_at=opt_datetime(x, "revoked_at"),
            created_by=x.created_by,
            created_at=opt_datetime(x, "created_at"),
            state=x.state,  # type: ignore[arg-type]
        )


class CreatedSecureLink(BaseModel):
    link: SecureLink
    token: str = Field(description="Shown in this answer only.")
    url: str = Field(description="The link to send to the customer; shown in this answer only.")


class SecureLinkUse(BaseModel):
    at: datetime | None
    client_address: str
    user_agent: str
    outcome: str = Field(description='"opened", or why the visit was refused: expired, revoked, used, archived.')


async def _check_scope(backends: Clients, token: str, customer_id: str, body: NewSecureLink) -> None:
    """A ticket or site link must name one of the customer's own (400 otherwise)."""
    try:
        await check_scope(backends, token, customer_id, body.scope, body.scope_id)
    except WrongScope as wrong:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"scope_id: {wrong}") from None


@router.post("/customers/{customer_id}/secure-links", status_code=status.HTTP_201_CREATED)
async def create_secure_link(
    customer_id: Id, body: NewSecureLink, session: StaffApiSession, backends: Clients
) -> CreatedSecureLink:
    """A link that opens the portal without a password, to one ticket, one site or the whole customer."""
    await _check_scope(backends, session.principal_token, customer_id, body)
    created = await backends.identity.create_secure_link(
        session.principal_token,
        customer_id=customer_id,
        scope=body.scope,
        scope_id=body.scope_id,
        expires_in_seconds=body.expires_in_seconds,
        single_use=body.single_use,
    )
    return CreatedSecureLink(link=SecureLink.of(created.link), token=created.token, url=created.url)


@router.get("/customers/{customer_id}/secure-links")
async def list_secure_links(customer_id: Id, session: StaffApiSession, backends: Clients) -> list[SecureLink]:
    """The customer's links, newest first; never their tokens."""
    return [SecureLink.of(x) for x in await backends.identity.list_secure_links(session.principal_token, customer_id)]


@router.post("/secure-links/{link_id}/revoke")
async def revoke_secure_link(link_id: Id, session: StaffApiSession, backends: Clients) -> SecureLink:
    """The link stops working, and so do the sessions opened with it (within seconds)."""
    return SecureLink.of(await backends.identity.revoke_secure_link(session.principal_token, link_id))


@router.get("/secure-links/{link_id}/uses")
async def list_secure_link_uses(link_id: Id, session: StaffApiSession, backends: Clients) -> list[SecureLinkUse]:
    """Each use of the link and each refused visit, newest first."""
    uses = await backends.identity.list_secure_link_uses(session.principal_token, link_id)
    return [
        SecureLinkUse(
            at=opt_datetime(u, "at"), client_address=u.client_address, user_agent=u.user_agent, outcome=u.outcome
        )
        for u in uses
    ]
