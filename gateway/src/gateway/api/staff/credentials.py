"""Staff JSON API for masked credentials (SPEC A5, X8): a customer's credentials (public and private), create with an
`Idempotency-Key`, edit (the password only when one is sent), delete, reveal, a credential's access log, and the
Credential Access Report with its CSV. Passwords appear in the reveal answer only; the assets service records
every reveal."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.credentials import CredentialAccessPage, CredentialPage, RevealedCredential
from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.staff import Id
from gateway.areas import credentials as rules
from gateway.clients.credentials import Credential, CredentialInput
from gateway.edge.idempotency import IDEMPOTENCY_KEY

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: credentials"],
    responses=problems(400, 401, 403, 404, 409, 503),
)

RefId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=36)]
KEY_HELP = "16-64 letters, digits, - or _; repeat it to get the first request's credential instead of a second one."
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", max_length=200, description=KEY_HELP)]
Cursor = Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)]
PageSize = Annotated[int, Query(ge=1, le=100)]


class CredentialBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: RefId = Field("", description="The contact it belongs to; empty for the customer's own")
    document_id: RefId = Field("", description="The document it belongs to, if any")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.NAME_MAX)]
    username: Annotated[str, StringConstraints(strip_whitespace=True, max_length=rules.USERNAME_MAX)] = ""
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=rules.URL_MAX)] = Field(
        "", description="Host name or URL"
    )
    notes: Annotated[str, StringConstraints(max_length=rules.NOTES_MAX)] = Field(
        "", description="Shown with the credential (not masked): no secrets here"
    )
    public: bool = Field(False, description="Shown on the customer portal; private credentials are staff only")

    def fields(self, customer_id: str = "") -> CredentialInput:
        return CredentialInput(
            customer_id=customer_id,
            contact_id=self.contact_id,
            document_id=self.document_id,
            name=self.name,
            username=self.username,
            url=self.url,
            notes=self.notes,
            public=self.public,
        )


class NewCredential(CredentialBody):
    customer_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]
    password: Annotated[str, StringConstraints(max_length=rules.PASSWORD_MAX)] = Field(
        description="Encrypted at rest; returned only by reveal"
    )


class CredentialEdit(CredentialBody):
    password: Annotated[str, StringConstraints(max_length=rules.PASSWORD_MAX)] | None = Field(
        None, description="A new password; leave out (or null) to keep the current one"
    )


@router.get("/credentials")
async def list_credentials(
    session: StaffApiSession,
    backends: Clients,
    customer_id: Annotated[str, Query(max_length=36)] = "",
    contact_id: Annotated[str, Query(max_length=36)] = "",
    document_id: Annotated[str, Query(max_length=36)] = "",
    cursor: Cursor = "",
    page_size: PageSize = 25,
) -> CredentialPage:
    """Credentials by name, public and private, optionally of one customer, contact or document."""
    page = await backends.credentials.list(
        session.principal_token,
        customer_id=customer_id,
        contact_id=contact_id,
        document_id=document_id,
        cursor=cursor,
        page_size=page_size,
    )
    return CredentialPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/credentials", status_code=status.HTTP_201_CREATED)
async def create_credential(
    body: NewCredential, session: StaffApiSession, backends: Clients, idempotency_key: IdempotencyKey
) -> Credential:
    """A credential of a customer (or one of its contacts, or a document). Retrying with the same Idempotency-Key
    returns the credential the first request made."""
    if not IDEMPOTENCY_KEY.match(idempotency_key):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Idempotency-Key: send this header of {KEY_HELP}")
    return await backends.credentials.create(
        session.principal_token,
        body.fields(body.customer_id),
        password=body.password,
        idempotency_key=idempotency_key,
    )


@router.get("/credentials/{credential_id}")
async def get_credential(credential_id: Id, session: StaffApiSession, backends: Clients) -> Credential:
    """One credential, without its password."""
    return await backends.credentials.get(session.principal_token, credential_id)


@router.put("/credentials/{credential_id}")
async def update_credential(
    credential_id: Id, body: CredentialEdit, session: StaffApiSession, backends: Clients
) -> Credential:
    """Replace the credential's fields; its password only when `password` is sent (under a new data key)."""
    return await backends.credentials.update(
        session.principal_token, credential_id, body.fields(), password=body.password
    )


@router.delete("/credentials/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(credential_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Delete the credential; its reveals stay in the Credential Access Report."""
    await backends.credentials.delete(session.principal_token, credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/credentials/{credential_id}/reveal")
async def reveal_credential(credential_id: Id, session: StaffApiSession, backends: Clients) -> RevealedCredential:
    """The password, recorded in the access log with who, when and from where."""
    shown = await backends.credentials.reveal(session.principal_token, credential_id)
    return RevealedCredential(password=shown.password, access=shown.access)


@router.get("/credentials/{credential_id}/access")
async def list_credential_access(
    credential_id: Id, session: StaffApiSession, backends: Clients, cursor: Cursor = "", page_size: PageSize = 25
) -> CredentialAccessPage:
    """The credential's reveals, newest first, with the address and browser of each."""
    page = await backends.credentials.access(
        session.principal_token, credential_id=credential_id, cursor=cursor, page_size=page_size
    )
    return CredentialAccessPage(items=page.items, next_cursor=page.next_cursor)


ReportCustomer = Annotated[str, Query(max_length=36, description="Only this customer's credentials")]
ReportPerson = Annotated[
    str, Query(max_length=rules.PERSON_MAX, description="Part of the name, or the id, of who revealed")
]
ReportSince = Annotated[date | None, Query(description="From this day (UTC), included")]
ReportUntil = Annotated[date | None, Query(description="To this day (UTC), included")]


@router.get("/credential-access")
async def credential_access_report(
    session: StaffApiSession,
    backends: Clients,
    customer_id: ReportCustomer = "",
    person: ReportPerson = "",
    since: ReportSince = None,
    until: ReportUntil = None,
    cursor: Cursor = "",
    page_size: PageSize = 25,
) -> CredentialAccessPage:
    """The Credential Access Report: every reveal, newest first, filtered by customer, person and days."""
    start, end = rules.day_range(since, until)
    page = await backends.credentials.access(
        session.principal_token,
        customer_id=customer_id,
        person=person,
        since=start,
        until=end,
        cursor=cursor,
        page_size=page_size,
    )
    return CredentialAccessPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/credential-access.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The report as CSV"}},
)
async def credential_access_report_csv(
    session: StaffApiSession,
    backends: Clients,
    customer_id: ReportCustomer = "",
    person: ReportPerson = "",
    since: ReportSince = None,
    until: ReportUntil = None,
) -> Response:
    """The report with the same filters as CSV (at most 10,000 rows, newest first)."""
    start, end = rules.day_range(since, until)
    return await rules.report_csv(
        backends, session.principal_token, customer_id=customer_id, person=person, since=start, until=end
    )
