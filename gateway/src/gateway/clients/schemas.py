"""Small, JSON-ready shapes the clients turn protobuf messages into; pages and the API share them.

from_proto builds with model_construct: protobuf fields are already typed, so validating them again would only
cost time on every backend answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from portal.common.v1 import common_pb2


def to_datetime(ts: Timestamp) -> datetime:
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)


def opt_datetime(msg, field: str) -> datetime | None:  # noqa: ANN001 - any protobuf message
    return to_datetime(getattr(msg, field)) if msg.HasField(field) else None


class Money(BaseModel):
    amount_minor: int = Field(description="Amount in the currency's minor units (cents)")
    currency: str = Field(description="ISO 4217 code")

    @classmethod
    def from_proto(cls, m: common_pb2.Money) -> Money:
        return cls.model_construct(amount_minor=m.amount_minor, currency=m.currency)


class Ticket(BaseModel):
    id: str
    number: int
    customer_id: str
    contact_id: str
    subject: str
    description: str
    status: str
    priority: str
    issue_type: str
    created_at: datetime | None
    updated_at: datetime | None
    created_by: str
    contact_name: str = Field(
        "",
        description="The contact's name as it was when the ticket was opened (T1); empty when the ticket has no "
        "contact",
    )
    assignee_id: str = ""
    site_id: str = ""
    asset_id: str = ""
    closed_at: datetime | None = None
    invoice_id: str = Field("", description="The invoice that billed this ticket (T1); empty until one does")
    invoice_number: str = Field("", description='Its number, shown as "Invoiced INV-1001"; empty until invoiced')

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @classmethod
    def from_proto(cls, t) -> Ticket:  # noqa: ANN001
        return cls.model_construct(
            id=t.id,
            number=t.number,
            customer_id=t.customer_id,
            contact_id=t.contact_id,
            contact_name=t.contact_name,
            subject=t.subject,
            description=t.description,
            status=t.status,
            priority=t.priority,
            issue_type=t.issue_type,
            created_at=opt_datetime(t, "created_at"),
            updated_at=opt_datetime(t, "updated_at"),
            created_by=t.created_by,
            assignee_id=t.assignee_id,
            site_id=t.site_id,
            asset_id=t.asset_id,
            closed_at=opt_datetime(t, "closed_at"),
            invoice_id=t.invoice_id,
            invoice_number=t.invoice_number,
        )


class Comment(BaseModel):
    """A ticket comment as the portal sees it; the tickets service sends portal users public ones only."""

    id: str
    ticket_id: str
    body: str
    author_kind: str = Field(description="portal_user or staff")
    author_name: str
    created_at: datetime | None

    @classmethod
    def from_proto(cls, c) -> Comment:  # noqa: ANN001
        return cls.model_construct(
            id=c.id,
            ticket_id=c.ticket_id,
            body=c.body,
            author_kind=c.author_kind,
            author_name=c.author_name,
            created_at=opt_datetime(c, "created_at"),
        )


class StaffComment(Comment):
    """A comment as staff see it: public ones and private notes, each marked."""

    is_public: bool = Field(description="false for a private staff note, which never reaches the portal or emails")

    @classmethod
    def from_proto(cls, c) -> StaffComment:  # noqa: ANN001
        return cls.model_construct(
            id=c.id,
            ticket_id=c.ticket_id,
            body=c.body,
            author_kind=c.author_kind,
            author_name=c.author_name,
            created_at=opt_datetime(c, "created_at"),
            is_public=c.is_public,
        )


class AuditEntry(BaseModel):
    """One entry of identity's audit log, as staff read it."""

    id: str
    kind: str = Field(description='What happened: "sign_in", "sign_in_failed", "password_reset", "group_updated" …')
    subject: str = Field(description='What it is about, e.g. "portal:alice@acme.test"')
    address: str = Field(description="The client's address when known")
    at: datetime | None
    detail: dict = Field(description="More about it; never a password or a token")

    @classmethod
    def from_proto(cls, e) -> AuditEntry:  # noqa: ANN001
        return cls.model_construct(
            id=e.id,
            kind=e.kind,
            subject=e.subject,
            address=e.address,
            at=opt_datetime(e, "at"),
            detail=json.loads(e.detail_json or "{}"),
        )


class Attachment(BaseModel):
    id: str
    ticket_id: str
    comment_id: str
    filename: str
    content_type: str
    size_bytes: int
    created_at: datetime | None
    has_thumbnail: bool = False

    @classmethod
    def from_proto(cls, a) -> Attachment:  # noqa: ANN001
        return cls.model_construct(
            id=a.id,
            ticket_id=a.ticket_id,
            comment_id=a.comment_id,
            filename=a.filename,
            content_type=a.content_type,
            size_bytes=a.size_bytes,
            created_at=opt_datetime(a, "created_at"),
            has_thumbnail=a.has_thumbnail,
        )


class Invoice(BaseModel):
    id: str
    number: str
    customer_id: str
    contact_id: str
    issued_on: str = Field(description="ISO date, YYYY-MM-DD")
    due_on: str
    status: str
    items_summary: str
    total: Money
    balance_due: Money
    display_status: str = Field(
        "",
        description="what the customer is shown: overdue (open, past due), partly_paid (open, balance below the "
        "total), else the status",
    )
    days_overdue: int = Field(0, description="whole days past the due date while overdue, else 0")

    @classmethod
    def from_proto(cls, i) -> Invoice:  # noqa: ANN001
        return cls.model_construct(
            id=i.id,
            number=i.number,
            customer_id=i.customer_id,
            contact_id=i.contact_id,
            issued_on=i.issued_on,
            due_on=i.due_on,
            status=i.status,
            items_summary=i.items_summary,
            total=Money.from_proto(i.total),
            balance_due=Money.from_proto(i.balance_due),
            display_status=i.display_status or i.status,
            days_overdue=i.days_overdue,
        )


class CustomField(BaseModel):
    name: str
    value: str
    editable_by_customer: bool = Field(False, description="Whether the customer may change the value")


class Asset(BaseModel):
    id: str
    customer_id: str
    contact_id: str
    site_id: str
    name: str
    serial_number: str
    asset_type: str
    notes: str = ""
    custom_fields: list[CustomField] = []
    retired_at: datetime | None = None
    created_at: datetime | None = None

    @classmethod
    def from_proto(cls, a) -> Asset:  # noqa: ANN001
        return cls.model_construct(
            id=a.id,
            customer_id=a.customer_id,
            contact_id=a.contact_id,
            site_id=a.site_id,
            name=a.name,
            serial_number=a.serial_number,
            asset_type=a.asset_type,
            notes=a.notes,
            custom_fields=[
                CustomField.model_construct(name=f.name, value=f.value, editable_by_customer=f.editable_by_customer)
                for f in a.custom_fields
            ],
            retired_at=opt_datetime(a, "retired_at"),
            created_at=opt_datetime(a, "created_at"),
        )


class Site(BaseModel):
    id: str
    customer_id: str
    name: str
    address: str

    @classmethod
    def from_proto(cls, s) -> Site:  # noqa: ANN001
        return cls.model_construct(id=s.id, customer_id=s.customer_id, name=s.name, address=s.address)


class ScriptRun(BaseModel):
    id: str
    customer_id: str
    asset_id: str
    script_name: str
    status: str = Field(description='"queued", "running", "succeeded", "failed" or "timed_out"')
    exit_code: int
    started_at: datetime | None
    finished_at: datetime | None
    script_id: str = ""
    ticket_id: str = Field("", description="The ticket the run is recorded on")
    output: str = Field("", description="The device's output so far (GetScriptRun only; lists leave it empty)")
    truncated: bool = Field(False, description="The output passed the service's bound and was cut")
    error: str = Field("", description="Why a failed run failed when it is not the script's own exit code")
    requested_by: str = ""
    new_ticket: bool = Field(
        False, description="The run asked for a new ticket: `ticket_id` is opened when the run has finished"
    )

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "timed_out")

    @property
    def shown_exit_code(self) -> int | None:
        """The script's own exit code, or None: while it runs, and when the run failed for another reason (the device
        went offline, the agent was lost, the script could not start), where the 0 the service sends means nothing."""
        return self.exit_code if self.finished and not self.error else None

    @classmethod
    def from_proto(cls, r) -> ScriptRun:  # noqa: ANN001
        return cls.model_construct(
            id=r.id,
            customer_id=r.customer_id,
            asset_id=r.asset_id,
            script_name=r.script_name,
            status=r.status,
            exit_code=r.exit_code,
            started_at=opt_datetime(r, "started_at"),
            finished_at=opt_datetime(r, "finished_at"),
            script_id=r.script_id,
            ticket_id=r.ticket_id,
            output=r.output,
            truncated=r.truncated,
            error=r.error,
            requested_by=r.requested_by,
            new_ticket=r.new_ticket,
        )


class Agent(BaseModel):
    """A device agent enrolled for an asset (remote)."""

    id: str
    asset_id: str
    customer_id: str
    hostname: str
    os: str
    agent_version: str
    online: bool
    enrolled_at: datetime | None
    last_seen_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_proto(cls, a) -> Agent:  # noqa: ANN001
        return cls.model_construct(
            id=a.id,
            asset_id=a.asset_id,
            customer_id=a.customer_id,
            hostname=a.hostname,
            os=a.os,
            agent_version=a.agent_version,
            online=a.online,
            enrolled_at=opt_datetime(a, "enrolled_at"),
            last_seen_at=opt_datetime(a, "last_seen_at"),
            revoked_at=opt_datetime(a, "revoked_at"),
        )


class ScriptVariable(BaseModel):
    name: str = Field(description="An environment variable name: [A-Z_][A-Z0-9_]{0,63}")
    label: str = ""
    default_value: str = ""
    required: bool = False


class Script(BaseModel):
    """A script of the catalogue; portal users get only portal scripts, by their self-service name, without body."""

    id: str
    name: str
    language: str = Field(description='"shell" or "python"')
    body: str = Field("", description="Empty for portal users")
    variables: list[ScriptVariable] = Field(default_factory=list)
    timeout_seconds: int = 0
    portal: bool = Field(False, description="Available on every customer portal (R2)")
    portal_name: str = ""
    portal_confirmation: str = ""
    updated_at: datetime | None = None

    @property
    def shown_name(self) -> str:
        return self.portal_name or self.name

    @classmethod
    def from_proto(cls, s) -> Script:  # noqa: ANN001
        return cls.model_construct(
            id=s.id,
            name=s.name,
            language=s.language,
            body=s.body,
            variables=[
                ScriptVariable.model_construct(
                    name=v.name, label=v.label, default_value=v.default_value, required=v.required
                )
                for v in s.variables
            ],
            timeout_seconds=s.timeout_seconds,
            portal=s.portal,
            portal_name=s.portal_name,
            portal_confirmation=s.portal_confirmation,
            updated_at=opt_datetime(s, "updated_at"),
        )


class RemoteSession(BaseModel):
    """A remote session on an asset (R1) and its audit record."""

    id: str
    customer_id: str
    asset_id: str
    ticket_id: str
    access_request_id: str
    opened_by_kind: str = Field(description='"portal" or "staff"')
    opened_by: str
    started_at: datetime | None
    ends_at: datetime | None = Field(description="The time limit: the session ends then whatever happens")
    ended_at: datetime | None = Field(description="Unset while open")
    end_reason: str = Field(description='"limit", "closed", "agent_lost", "revoked" or "" while open')
    bytes_to_device: int
    bytes_from_device: int

    @classmethod
    def from_proto(cls, s) -> RemoteSession:  # noqa: ANN001
        return cls.model_construct(
            id=s.id,
            customer_id=s.customer_id,
            asset_id=s.asset_id,
            ticket_id=s.ticket_id,
            access_request_id=s.access_request_id,
            opened_by_kind=s.opened_by_kind,
            opened_by=s.opened_by,
            started_at=opt_datetime(s, "started_at"),
            ends_at=opt_datetime(s, "ends_at"),
            ended_at=opt_datetime(s, "ended_at"),
            end_reason=s.end_reason,
            bytes_to_device=s.bytes_to_device,
            bytes_from_device=s.bytes_from_device,
        )


class AccessRequest(BaseModel):
    """X1: staff ask a customer for a remote access window on an asset, for a ticket."""

    id: str
    customer_id: str
    asset_id: str
    ticket_id: str
    requested_by: str
    reason: str
    window_minutes: int
    status: str = Field(description='"pending", "approved", "declined" or "expired"')
    requested_at: datetime | None
    decided_by: str
    decided_at: datetime | None
    window_ends_at: datetime | None = Field(description="Approved: the window's end")

    @classmethod
    def from_proto(cls, r) -> AccessRequest:  # noqa: ANN001
        return cls.model_construct(
            id=r.id,
            customer_id=r.customer_id,
            asset_id=r.asset_id,
            ticket_id=r.ticket_id,
            requested_by=r.requested_by,
            reason=r.reason,
            window_minutes=r.window_minutes,
            status=r.status,
            requested_at=opt_datetime(r, "requested_at"),
            decided_by=r.decided_by,
            decided_at=opt_datetime(r, "decided_at"),
            window_ends_at=opt_datetime(r, "window_ends_at"),
        )


class EnrolmentToken(BaseModel):
    token: str = Field(description="Shown once; remote keeps only its hash")
    expires_at: datetime | None


class Customer(BaseModel):
    id: str
    display_name: str
    email: str
    # SPEC C3 "remote access enabled"; None when identity sent no settings for this caller.
    remote_access_enabled: bool | None = None

    @classmethod
    def from_proto(cls, c) -> Customer:  # noqa: ANN001
        remote = c.settings.remote_access_enabled if c.HasField("settings") else None
        return cls.model_construct(id=c.id, display_name=c.display_name, email=c.email, remote_access_enabled=remote)


class SignInResult(BaseModel):
    session_token: str
    expires_at: datetime | None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):  # noqa: UP046 - Python 3.11 has no PEP 695 syntax
    """One page of a list; a plain dataclass, as pydantic generics cost noticeably per call."""

    items: list[T]
    next_cursor: str | None = None


class TicketStatus(BaseModel):
    name: str = Field(description="What a ticket stores and filters name (the built-in six keep theirs)")
    label_en: str = Field("", description="English label; '' on a built-in status = the product's own wording")
    label_fr: str = Field("", description="French label; '' on a built-in status = the product's own wording")
    closed: bool = Field(False, description="Whether the status ends the ticket's open life")

    @classmethod
    def from_proto(cls, m) -> TicketStatus:  # noqa: ANN001
        return cls.model_construct(name=m.name, label_en=m.label_en, label_fr=m.label_fr, closed=m.closed)


class PushPreferences(BaseModel):
    """Which web push notifications the user wants (X7); every kind is off until turned on."""

    ticket_replies: bool = Field(False, description="Our public replies on tickets you may see")
    estimates: bool = Field(False, description="Estimates awaiting your approval")
    invoices: bool = Field(False, description="New invoices (Invoices - View All)")
    remote_requests: bool = Field(False, description="A technician asking for remote access to a device")

    @classmethod
    def from_proto(cls, p) -> PushPreferences:  # noqa: ANN001 - identity_pb2.PushPreferences
        return cls.model_construct(
            ticket_replies=p.ticket_replies,
            estimates=p.estimates,
            invoices=p.invoices,
            remote_requests=p.remote_requests,
        )


class PushDevice(BaseModel):
    """A browser subscribed to push: never its endpoint or keys, only the push service's host."""

    id: str
    endpoint_host: str
    user_agent: str
    created_at: datetime | None = None

    @classmethod
    def from_proto(cls, s) -> PushDevice:  # noqa: ANN001 - identity_pb2.PushSubscription
        return cls.model_construct(
            id=s.id, endpoint_host=s.endpoint_host, user_agent=s.user_agent, created_at=opt_datetime(s, "created_at")
        )


class PushSettings(BaseModel):
    vapid_public_key: str = Field(description="applicationServerKey for pushManager.subscribe; empty: push is off")
    preferences: PushPreferences
    devices: list[PushDevice]
