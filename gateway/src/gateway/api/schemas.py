"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.areas.tickets import DESCRIPTION_MAX, SUBJECT_MAX
from gateway.clients.documents import Document
from gateway.clients.knowledge import Article, TicketCharts
from gateway.clients.schemas import Asset, Invoice, ScriptRun, Ticket

T = TypeVar("T")


class SignInBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class SessionCreated(BaseModel):
    session_token: str = Field(description="Send as `Authorization: Bearer <session_token>`")
    expires_at: datetime | None
    next_step: Literal["done", "mfa_code", "mfa_enrol"] = Field(
        "done",
        description=(
            "`done`: the token works for every call. `mfa_code`: send the authenticator app's code (or a recovery "
            "code) to `POST /api/v1/sessions/current/mfa` first. `mfa_enrol`: the account must set up an "
            "authenticator first: `POST /api/v1/sessions/current/mfa/enrolment`, then confirm a code at "
            "`POST /api/v1/sessions/current/mfa/enrolment/confirm`. Until then every other call answers 401."
        ),
    )


class MfaCodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = Field(
        description="The six digits the authenticator app shows now, or one unused recovery code"
    )


class MfaVerified(BaseModel):
    recovery_codes_left: int


class MfaEnrolmentStarted(BaseModel):
    secret: str = Field(description="The TOTP secret (base32), shown this once; type it into the authenticator app")
    otpauth_uri: str = Field(description="The same secret as an otpauth:// URI, for a QR code")


class MfaEnrolled(BaseModel):
    recovery_codes: list[str] = Field(description="Ten single-use recovery codes, shown this once")


class Me(BaseModel):
    kind: str
    subject_id: str
    customer_id: str
    contact_id: str
    customer_name: str
    display_name: str
    email: str
    permissions: list[str]
    # SPEC H5: the language kept on the user, else its customer's default; "" when neither is set.
    language: str = ""


class MyLanguage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "en", "fr", or "" to follow the browser again (and the customer's default); identity refuses any other (400).
    language: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)]


class HomeSection(BaseModel, Generic[T]):  # noqa: UP046 - Python 3.11
    available: bool = Field(description="False when the backing service is temporarily unavailable")
    items: list[T]


class Home(BaseModel):
    customer_name: str
    display_name: str
    can_create_tickets: bool
    tickets: HomeSection[Ticket] | None = Field(description="null when the user's group does not show it")
    invoices: HomeSection[Invoice] | None
    assets: HomeSection[Asset] | None
    script_runs: HomeSection[ScriptRun] | None
    attachments: HomeSection[Document] | None = Field(
        None, description="The 10 oldest public documents (Attachments - View Public); null when not shown"
    )
    order: list[str] = Field(
        [],
        description="SPEC H3: the keys of the sections and widgets the home shows, in the order staff set "
        "(enabled by staff and allowed by the group)",
    )
    credentials: HomeSection[HomeCredential] | None = Field(None, description="Names only, never a secret")
    recent_tickets: HomeSection[Ticket] | None = Field(None, description="The 5 most recently updated tickets")
    recent_documents: HomeSection[Document] | None = Field(None, description="The 5 newest public documents")
    recent_faq: HomeSection[Article] | None = Field(None, description="The 5 latest knowledge-base articles")
    charts: HomeSection[TicketCharts] | None = Field(
        None, description="One item: open tickets and resolution time by priority"
    )
    locked_invoices: list[Invoice] = Field(
        [], description="Paid invoices whose ticket is still open (the lock icon of the open invoices section)"
    )


class HomeCredential(BaseModel):
    id: str
    name: str


class TicketPage(BaseModel):
    items: list[Ticket]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class NewTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SUBJECT_MAX)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DESCRIPTION_MAX)]
    priority: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    issue_type: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    site_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        "", description="One of the customer's sites (T8); another customer's or an unknown id is refused"
    )
    asset_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        "", description="One of the customer's assets (T8); another customer's or an unknown id is refused"
    )
    contact_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        "",
        description="Users with Tickets - View All may open the ticket for another of their customer's contacts "
        "(T3); '' = as themselves. Another customer's or an unknown contact is a 400; without View All, a 403.",
    )
