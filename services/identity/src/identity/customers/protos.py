"""Customers as the proto carries them: staff see everything; a portal user not the notes, settings or answers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.custom_fields import service as custom_fields
from identity.customers import service as customers
from identity.customers.holders import Holding, describe
from identity.customers.models import Customer
from portal.identity.v1 import identity_pb2
from servicekit.errors import InvalidArgument
from servicekit.principal import Principal
from servicekit.protos import timestamp


def customer_to_proto(
    c: Customer,
    *,
    answers: list[custom_fields.Answer] | None = None,
    access: customers.PortalAccess | None = None,
    staff: bool = True,
) -> identity_pb2.Customer:
    """The customer as callers see it: staff everything; a portal user not the notes, settings or answers."""
    msg = identity_pb2.Customer(
        id=c.id,
        business_name=c.business_name,
        first_name=c.first_name,
        last_name=c.last_name,
        email=c.email,
        display_name=c.display_name,
        created_at=timestamp(c.created_at),
        archived=c.archived_at is not None,
        phones=[identity_pb2.Phone(**p) for p in c.phones or []],
        addresses=[identity_pb2.Address(**a) for a in c.addresses or []],
        parent_id=c.parent_id or "",
        language=c.language or "",
        badges=[identity_pb2.Badge(label=a.badge.label, color=a.badge.color) for a in answers or [] if a.badge],
    )
    if staff:
        msg.notes = c.notes
        msg.settings.CopyFrom(settings_to_proto(c))
        msg.custom_fields.extend(
            identity_pb2.CustomFieldValue(field_id=a.field_id, field_name=a.field_name, value=a.value)
            for a in answers or []
        )
        if access is not None:
            msg.portal_access.CopyFrom(
                identity_pb2.PortalAccess(
                    enabled=access.enabled, group_name=access.group_name, require_mfa=access.require_mfa
                )
            )
    else:
        # The one setting a portal user's pages need: whether to offer the Remote action (SPEC C3, R1). The other
        # settings stay staff's.
        msg.settings.CopyFrom(identity_pb2.CustomerSettings(remote_access_enabled=c.remote_access_enabled))
    return msg


async def full_customer(s: AsyncSession, c: Customer, principal: Principal) -> identity_pb2.Customer:
    """One customer with its answers, badges and (for staff) portal access."""
    answers = (await custom_fields.answers_of(s, [c.id]))[c.id]
    access = (await customers.portal_access(s, c))[0] if principal.is_staff else None
    return customer_to_proto(c, answers=answers, access=access, staff=principal.is_staff)


def settings_to_proto(c: Customer) -> identity_pb2.CustomerSettings:
    values = customers.settings_of(c)
    return identity_pb2.CustomerSettings(**{k: v for k, v in values.items() if v is not None})


def settings_from_proto(msg: identity_pb2.CustomerSettings) -> dict:
    values = {name: getattr(msg, name) for name in customers.SETTINGS}
    for name in customers.SETTING_NUMBERS:
        values[name] = getattr(msg, name) if msg.HasField(name) else None
    for name in customers.SETTING_LISTS:
        values[name] = list(getattr(msg, name))
    return values


def details_from_proto(request) -> customers.Details:  # noqa: ANN001 - Create/UpdateCustomerRequest
    access = None
    if request.HasField("portal_access"):
        pa = request.portal_access
        access = customers.PortalAccess(enabled=pa.enabled, group_name=pa.group_name, require_mfa=pa.require_mfa)
    answers: dict[str, str] = {}
    for v in request.custom_fields:
        if v.field_id in answers:
            raise InvalidArgument("a custom field is answered twice", field="custom_fields")
        answers[v.field_id] = v.value
    return customers.Details(
        notes=request.notes,
        phones=[{"type": p.type, "number": p.number} for p in request.phones],
        addresses=[{k: getattr(a, k) for k in ("type", *customers.ADDRESS_PARTS)} for a in request.addresses],
        settings=settings_from_proto(request.settings) if request.HasField("settings") else None,
        portal_access=access,
        custom_fields=answers,
        parent_id=request.parent_id,
    )


def holders_to_proto(holdings: list[Holding]) -> identity_pb2.GetCustomerDataHoldersResponse:
    return identity_pb2.GetCustomerDataHoldersResponse(
        deletable=not holdings,
        holders=[identity_pb2.CustomerDataHolder(service=h.service, kind=h.kind, count=h.count) for h in holdings],
        reason=describe(holdings),
    )


def privacy_to_proto(c: Customer) -> identity_pb2.PrivacySettings:
    return identity_pb2.PrivacySettings(
        receive_billing_emails=c.receive_billing_emails,
        receive_marketing_emails=c.receive_marketing_emails,
        receive_report_emails=c.receive_report_emails,
    )
