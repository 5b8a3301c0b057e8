"""Masked credentials in the portal's JSON API (SPEC A5, X8): the public credentials the user's group may see
(Credentials - View All: the customer's; View Mine: the user's contact's), never with their password; the password
only in the answer to `POST …/reveal`, which the assets service records in the credential's access log; and that
log (who revealed it and when)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.clients.credentials import Credential, CredentialAccess

router = APIRouter(prefix="/api/v1", tags=["credentials"], responses=problems(400, 401, 403, 503))

CredentialId = Annotated[str, Path(min_length=1, max_length=36)]


class CredentialPage(BaseModel):
    items: list[Credential]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class CredentialAccessPage(BaseModel):
    items: list[CredentialAccess]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for older entries; null on the last page")


class RevealedCredential(BaseModel):
    password: str = Field(description="Shown in this answer only; the reveal is recorded")
    access: CredentialAccess = Field(description="The access-log entry this reveal made")


@router.get("/credentials")
async def list_credentials(
    session: CurrentSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
) -> CredentialPage:
    """The public credentials the user may see, by name; passwords are never listed."""
    page = await backends.credentials.list(session.principal_token, page_size=page_size, cursor=cursor)
    return CredentialPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/credentials/{credential_id}", responses=problems(404))
async def get_credential(credential_id: CredentialId, session: CurrentSession, backends: Clients) -> Credential:
    """One credential, without its password."""
    return await backends.credentials.get(session.principal_token, credential_id)


@router.post("/credentials/{credential_id}/reveal", responses=problems(404, 409))
async def reveal_credential(
    credential_id: CredentialId, session: CurrentSession, backends: Clients
) -> RevealedCredential:
    """The password, recorded in the credential's access log with who, when and from which address and browser."""
    shown = await backends.credentials.reveal(session.principal_token, credential_id)
    return RevealedCredential(password=shown.password, access=shown.access)


@router.get("/credentials/{credential_id}/access", responses=problems(404))
async def list_credential_access(
    credential_id: CredentialId,
    session: CurrentSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
) -> CredentialAccessPage:
    """Who revealed the credential and when, newest first (staff reveals included)."""
    page = await backends.credentials.access(
        session.principal_token, credential_id=credential_id, page_size=page_size, cursor=cursor
    )
    return CredentialAccessPage(items=page.items, next_cursor=page.next_cursor)
