"""Staff JSON API for customers (SPEC C1-C6): customers, their archive switch, data holders and deletion,
contacts, and custom fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import grpc
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff import Id
from gateway.clients.identity import (
    ContactMessage,
    CustomerMessage,
    CustomerSettingsMessage,
    CustomFieldMessage,
)
from gateway.edge.errors import UNAVAILABLE, Problem

# How identity's message begins when it could not ask another service whether it holds data (SPEC C5).
UNREACHABLE = "could not ask"
router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: identity"],
    responses=problems(400, 401, 403, 404, 409, 503),
)


class Archived(BaseModel):
    model_config = ConfigDict(extra="forbid")

    archived: bool


class CustomerState(BaseModel):
    id: str
    display_name: str
    archived: bool


@router.put("/customers/{customer_id}/archived")
async def set_archived(customer_id: Id, body: Archived, session: StaffApiSession, backends: Clients) -> CustomerState:
    """Archive (its portal users are signed out and cannot sign in) or re-enable a customer (SPEC C5)."""
    c = await backends.identity.set_customer_archived(
        session.principal_token, customer_id=customer_id, archived=body.archived
    )
    return CustomerState(id=c.id, display_name=c.display_name, archived=c.archived)


class CustomerLanguage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "en", "fr", or "" (not set: English); identity refuses any other with a 400.
    language: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)]


class CustomerLanguageState(BaseModel):
    id: str
    language: str


@router.put("/customers/{customer_id}/language")
async def set_language(
    customer_id: Id, body: CustomerLanguage, session: StaffApiSession, backends: Clients
) -> CustomerLanguageState:
    """The default language of the customer's users who have not chosen one: their pages and emails (SPEC H5)."""
    language = await backends.identity.set_customer_language(
        session.principal_token, customer_id=customer_id, language=body.language
    )
    return CustomerLanguageState(id=customer_id, language=language)


# --- customers and contacts (SPEC C1-C6) ------------------------------------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)]
OptionalId = Annotated[str, StringConstraints(max_length=36)]


class Phone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(max_length=16, description="mobile, work, home, fax or other")] = "mobile"
    number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(max_length=16, description="billing (Bill to), shipping (Ship to) or physical")] = (
        "billing"
    )
    line1: Text = ""
    line2: Text = ""
    city: Text = ""
    region: Text = ""
    postal_code: Text = ""
    country: Text = ""


class CustomerSettings(BaseModel):
    """SPEC C3. Left out on update: unchanged. A setting left out of a given object takes its default."""

    model_config = ConfigDict(extra="forbid")

    tax_rate_bp: Annotated[int | None, Field(ge=0, le=10_000, description="825 = 8.25 %; null: default rate")] = None
    tax_free: bool = False
    remote_access_enabled: bool = False
    sms_enabled: bool = False
    receive_billing_emails: bool = True
    receive_marketing_emails: bool = True
    receive_report_emails: bool = True
    no_email: Annotated[bool, Field(description="No email of any kind, to the customer or its contacts")] = False
    notification_emails: list[Email] = Field(default_factory=list, max_length=20)
    invoice_cc_emails: list[Email] = Field(default_factory=list, max_length=20)
    ticket_matching_emails: list[Email] = Field(default_factory=list, max_length=20)
    invoice_terms_days: Annotated[int | None, Field(ge=0, le=365, description="null: default terms")] = None
    internal_ticket_warning: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""

    @classmethod
    def of(cls, s: CustomerSettingsMessage) -> CustomerSettings:
        values = {name: getattr(s, name) for name in cls.model_fields}
        for name in ("tax_rate_bp", "invoice_terms_days"):
            values[name] = getattr(s, name) if s.HasField(name) else None
        for name in ("notification_emails", "invoice_cc_emails", "ticket_matching_emails"):
            values[name] = list(values[name])
        return cls.model_construct(**values)

    def values(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PortalAccess(BaseModel):
    """SPEC C3 "Enable portal user": the customer's own login (its primary email), its group and Require MFA."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    group_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    require_mfa: bool = False


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    field_id: Annotated[str, StringConstraints(max_length=36)]
    field_name: str = ""
    value: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class Badge(BaseModel):
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30)]
    color: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""


class CustomerSummary(BaseModel):
    id: str
    display_name: str
    email: str
    archived: bool
    parent_id: str
    badges: list[Badge]


class CustomerRecord(BaseModel):
    id: str
    display_name: str
    business_name: str
    first_name: str
    last_name: str
    email: str
    created_at: datetime | None
    archived: bool
    notes: str
    phones: list[Phone]
    addresses: list[Address]
    settings: CustomerSettings
    portal_access: PortalAccess | None
    custom_fields: list[Answer]
    badges: list[Badge]
    parent_id: str
    # SPEC H5: the default language of its users ("" = English).
    language: str = ""
    subsidiaries: list[CustomerSummary] = Field(default_factory=list)


def _badges(c: CustomerMessage) -> list[Badge]:
    return [Badge(label=b.label, color=b.color) for b in c.badges]


def _summary(c: CustomerMessage) -> CustomerSummary:
    return CustomerSummary(
        id=c.id,
        display_name=c.display_name,
        email=c.email,
        archived=c.archived,
        parent_id=c.parent_id,
        badges=_badges(c),
    )


def _record(c: CustomerMessage, subsidiaries: list[CustomerMessage] = ()) -> CustomerRecord:  # type: ignore[assignment]
    return CustomerRecord(
        id=c.id,
        display_name=c.display_name,
        business_name=c.business_name,
        first_name=c.first_name,
        last_name=c.last_name,
        email=c.email,
        created_at=c.created_at.ToDatetime(tzinfo=UTC) if c.HasField("created_at") else None,
        archived=c.archived,
        notes=c.notes,
        phones=[Phone(type=p.type, number=p.number) for p in c.phones],
        addresses=[Address.model_construct(**{k: getattr(a, k) for k in Address.model_fields}) for a in c.addresses],
        settings=CustomerSettings.of(c.settings),
        portal_access=PortalAccess(
            enabled=c.portal_access.enabled,
            group_name=c.portal_access.group_name,
            require_mfa=c.portal_access.require_mfa,
        )
        if c.HasField("portal_access")
        else None,
        custom_fields=[Answer(field_id=a.field_id, field_name=a.field_name, value=a.value) for a in c.custom_fields],
        badges=_badges(c),
        parent_id=c.parent_id,
        language=c.language,
        subsidiaries=[_summary(s) for s in subsidiaries],
    )


class CustomerBody(BaseModel):
    """A customer as staff write it. On update everything is replaced, except `settings` and `portal_access`,
    which stay as they are when left out."""

    model_config = ConfigDict(extra="forbid")

    business_name: Text = ""
    first_name: Text = ""
    last_name: Text = ""
    email: Email
    notes: Annotated[str, StringConstraints(max_length=10_000)] = ""
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    addresses: list[Address] = Field(default_factory=list, max_length=10)
    settings: CustomerSettings | None = None
    portal_access: PortalAccess | None = None
    custom_fields: list[Answer] = Field(default_factory=list, max_length=100)
    parent_id: OptionalId = ""

    def fields(self) -> dict:
        values: dict = {
            "business_name": self.business_name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "notes": self.notes,
            "phones": [p.model_dump() for p in self.phones],
            "addresses": [a.model_dump() for a in self.addresses],
            "custom_fields": [{"field_id": a.field_id, "value": a.value} for a in self.custom_fields],
            "parent_id": self.parent_id,
        }
        if self.settings is not None:
            values["settings"] = self.settings.values()
        if self.portal_access is not None:
            values["portal_access"] = self.portal_access.model_dump()
        return values


class NewCustomer(CustomerBody):
    idempotency_key: Annotated[str, StringConstraints(max_length=128)] = ""


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    next_cursor: str | None


class Holder(BaseModel):
    service: str
    kind: str
    count: int


class DataHolders(BaseModel):
    """Whether delete may be offered (SPEC C5): only when no service holds data for the customer."""

    deletable: bool
    reason: str
    holders: list[Holder]


class ContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Email = ""
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    title: Text = ""


class ContactOut(BaseModel):
    id: str
    customer_id: str
    name: str
    email: str
    phone: str
    title: str
    # SPEC P7, set with PUT /api/v1/staff/contacts/{id}/support-window; "" = open-ended.
    support_start: str = ""
    support_end: str = ""

    @classmethod
    def of(cls, c: ContactMessage) -> ContactOut:
        return cls(
            id=c.id,
            customer_id=c.customer_id,
            name=c.name,
            email=c.email,
            phone=c.phone,
            title=c.title,
            support_start=c.support_start,
            support_end=c.support_end,
        )


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    badge: Badge | None = None


class CustomFieldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    type: Annotated[str, Field(description="text or dropdown (ignored on update: the type cannot change)")] = "text"
    options: list[Option] = Field(default_factory=list, max_length=50)
    position: Annotated[int, Field(ge=0, le=10_000, description="0 keeps the current place (on update)")] = 0

    def option_values(self) -> list[dict]:
        return [
            {"value": o.value, "badge": {"label": o.badge.label, "color": o.badge.color} if o.badge else None}
            for o in self.options
        ]


class CustomFieldOut(BaseModel):
    id: str
    name: str
    type: str
    options: list[Option]
    position: int

    @classmethod
    def of(cls, f: CustomFieldMessage) -> CustomFieldOut:
        return cls(
            id=f.id,
            name=f.name,
            type=f.type,
            position=f.position,
            options=[
                Option(
                    value=o.value,
                    badge=Badge(label=o.badge.label, color=o.badge.color) if o.HasField("badge") else None,
                )
                for o in f.options
            ],
        )


@router.get("/customers")
async def list_customers(
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512)] = "",
    page_size: Annotated[int, Query(ge=0, le=100)] = 0,
    parent_id: Annotated[str, Query(max_length=36)] = "",
    q: Annotated[str, Query(max_length=200, description="Words in the name or email, any case")] = "",
) -> CustomerPage:
    """Customers oldest first (keyset pages), each with the badges of its custom field answers; `parent_id`
    lists one customer's subsidiaries, `q` searches names and emails."""
    resp = await backends.identity.list_customer_records(
        session.principal_token, page_size=page_size, cursor=cursor, parent_id=parent_id, query=q
    )
    return CustomerPage(items=[_summary(c) for c in resp.customers], next_cursor=resp.page.next_cursor or None)


@router.post("/customers", status_code=status.HTTP_201_CREATED)
async def create_customer(body: NewCustomer, session: StaffApiSession, backends: Clients) -> CustomerRecord:
    """A customer; the primary email is unique among customers regardless of case (409). With portal access
    enabled its own portal user is made and invited."""
    created = await backends.identity.create_customer(
        session.principal_token, idempotency_key=body.idempotency_key, **body.fields()
    )
    return _record(created)


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: Id, session: StaffApiSession, backends: Clients) -> CustomerRecord:
    resp = await backends.identity.get_customer_record(session.principal_token, customer_id)
    return _record(resp.customer, list(resp.subsidiaries))


@router.put("/customers/{customer_id}")
async def update_customer(
    customer_id: Id, body: CustomerBody, session: StaffApiSession, backends: Clients
) -> CustomerRecord:
    await backends.identity.update_customer(session.principal_token, customer_id=customer_id, **body.fields())
    resp = await backends.identity.get_customer_record(session.principal_token, customer_id)
    return _record(resp.customer, list(resp.subsidiaries))


@router.get("/customers/{customer_id}/data-holders")
async def data_holders(customer_id: Id, session: StaffApiSession, backends: Clients) -> DataHolders:
    """Which services hold data for the customer: the staff console offers Delete only when none does."""
    resp = await backends.identity.customer_data_holders(session.principal_token, customer_id)
    return DataHolders(
        deletable=resp.deletable,
        reason=resp.reason,
        holders=[Holder(service=h.service, kind=h.kind, count=h.count) for h in resp.holders],
    )


@router.delete("/customers/{customer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_customer(customer_id: Id, request: Request, session: StaffApiSession, backends: Clients) -> Response:
    """Delete a customer no service holds data for; otherwise 409 naming what holds data (archive it instead).
    503 when a service cannot be asked: nothing is deleted blindly."""
    try:
        await backends.identity.delete_customer(session.principal_token, customer_id)
    except grpc.aio.AioRpcError as err:
        # Identity's own words say which service could not be asked; a failure to reach identity keeps the
        # generic answer (its details may name internal addresses).
        if err.code() == grpc.StatusCode.UNAVAILABLE and (err.details() or "").startswith(UNREACHABLE):
            return Problem(UNAVAILABLE, err.details(), headers={"Retry-After": "5"}).response(request.url.path)
        raise
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/customers/{customer_id}/contacts")
async def list_contacts(customer_id: Id, session: StaffApiSession, backends: Clients) -> list[ContactOut]:
    return [ContactOut.of(c) for c in await backends.identity.list_contacts(session.principal_token, customer_id)]


@router.post("/customers/{customer_id}/contacts", status_code=status.HTTP_201_CREATED)
async def create_contact(customer_id: Id, body: ContactBody, session: StaffApiSession, backends: Clients) -> ContactOut:
    """A contact; its email may also be on contacts of other customers (SPEC C2)."""
    contact = await backends.identity.create_contact(
        session.principal_token, customer_id=customer_id, **body.model_dump()
    )
    return ContactOut.of(contact)


@router.put("/contacts/{contact_id}")
async def update_contact(contact_id: Id, body: ContactBody, session: StaffApiSession, backends: Clients) -> ContactOut:
    contact = await backends.identity.update_contact(
        session.principal_token, contact_id=contact_id, **body.model_dump()
    )
    return ContactOut.of(contact)


@router.get("/custom-fields")
async def list_custom_fields(session: StaffApiSession, backends: Clients) -> list[CustomFieldOut]:
    """Custom fields on customers (SPEC C4), in order."""
    return [CustomFieldOut.of(f) for f in await backends.identity.list_custom_fields(session.principal_token)]


@router.post("/custom-fields", status_code=status.HTTP_201_CREATED)
async def create_custom_field(body: CustomFieldBody, session: StaffApiSession, backends: Clients) -> CustomFieldOut:
    """A text or dropdown field; a dropdown answer may carry a badge shown next to the customer's name."""
    created = await backends.identity.create_custom_field(
        session.principal_token, name=body.name, type=body.type, options=body.option_values()
    )
    return CustomFieldOut.of(created)


@router.put("/custom-fields/{field_id}")
async def update_custom_field(
    field_id: Id, body: CustomFieldBody, session: StaffApiSession, backends: Clients
) -> CustomFieldOut:
    """Rename, move, or replace a dropdown's answers (customers' answers no longer offered are removed)."""
    updated = await backends.identity.update_custom_field(
        session.principal_token,
        field_id=field_id,
        name=body.name,
        options=body.option_values(),
        position=body.position,
    )
    return CustomFieldOut.of(updated)


@router.delete("/custom-fields/{field_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_custom_field(field_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Remove the field and every customer's answer to it."""
    await backends.identity.delete_custom_field(session.principal_token, field_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
