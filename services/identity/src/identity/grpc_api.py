"""IdentityService over gRPC: proto ⇄ domain and units of work; the rules live in the aggregates' service.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity import access
from identity.contacts import service as contacts
from identity.contacts.models import Contact
from identity.custom_fields import service as custom_fields
from identity.custom_fields.models import CustomField
from identity.customers import service as customers
from identity.customers.holders import DataHolders, Holding, describe
from identity.customers.models import Customer
from identity.groups import service as groups
from identity.groups.models import PermissionGroup
from identity.mfa import service as mfa
from identity.passwords import service as passwords
from identity.portal_controls.rpcs import EmailTemplateRpcs, PortalControlsRpcs, contact_window, renewal_notice_ends_on
from identity.secrets import SecretBox
from identity.secure_links import service as secure_links
from identity.secure_links.models import SCOPE_CUSTOMER, SCOPE_SITE, SCOPE_TICKET, SecureLink
from identity.sessions import service as sessions
from identity.sessions.models import AUDIENCE_PORTAL, AUDIENCE_STAFF, PENDING_ENROL, PENDING_MFA
from identity.sessions.tokens import PrincipalTokens
from identity.settings import service as portal_settings
from identity.users import service as users
from identity.users.models import PortalUser
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from servicekit.db import Database
from servicekit.errors import FailedPrecondition, InvalidArgument
from servicekit.principal import Principal, current_principal

SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
# Callable without a principal token: they are how a browser gets one.
PUBLIC_METHODS = [
    f"/{SERVICE_NAME}/{m}"
    for m in (
        "SignIn",
        "ResolveSession",
        "SignOut",
        "GetPortalControls",
        "RequestPasswordReset",
        "CheckPasswordToken",
        "SetPasswordWithToken",
        "VerifyMfaCode",
        "BeginMfaEnrolment",
        "ConfirmMfaEnrolment",
        "OpenSecureLink",
    )
]

_AUDIENCES = {identity_pb2.AUDIENCE_PORTAL: AUDIENCE_PORTAL, identity_pb2.AUDIENCE_STAFF: AUDIENCE_STAFF}
_T = TypeVar("_T")
_NEXT_STEP = {
    "": identity_pb2.SIGN_IN_STEP_DONE,
    PENDING_MFA: identity_pb2.SIGN_IN_STEP_MFA_CODE,
    PENDING_ENROL: identity_pb2.SIGN_IN_STEP_MFA_ENROL,
}


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


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
        created_at=_timestamp(c.created_at),
        archived=c.archived_at is not None,
        phones=[identity_pb2.Phone(**p) for p in c.phones or []],
        addresses=[identity_pb2.Address(**a) for a in c.addresses or []],
        parent_id=c.parent_id or "",
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
    return msg


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


def field_to_proto(f: CustomField) -> identity_pb2.CustomField:
    return identity_pb2.CustomField(
        id=f.id,
        name=f.name,
        type=f.type,
        position=f.position,
        options=[
            identity_pb2.CustomFieldOption(
                value=o["value"],
                badge=identity_pb2.Badge(label=o.get("badge_label", ""), color=o.get("badge_color", ""))
                if o.get("badge_label")
                else None,
            )
            for o in f.options
        ],
    )


def options_from_proto(options) -> list[dict[str, str]]:  # noqa: ANN001
    return [{"value": o.value, "badge_label": o.badge.label, "badge_color": o.badge.color} for o in options]


def contact_to_proto(c: Contact) -> identity_pb2.Contact:
    return identity_pb2.Contact(
        id=c.id,
        customer_id=c.customer_id,
        name=c.name,
        email=c.email,
        phone=c.phone,
        title=c.title,
        **contact_window(c),
    )


def holders_to_proto(holdings: list[Holding]) -> identity_pb2.GetCustomerDataHoldersResponse:
    return identity_pb2.GetCustomerDataHoldersResponse(
        deletable=not holdings,
        holders=[identity_pb2.CustomerDataHolder(service=h.service, kind=h.kind, count=h.count) for h in holdings],
        reason=describe(holdings),
    )


async def full_customer(s: AsyncSession, c: Customer, principal: Principal) -> identity_pb2.Customer:
    """One customer with its answers, badges and (for staff) portal access."""
    answers = (await custom_fields.answers_of(s, [c.id]))[c.id]
    access = (await customers.portal_access(s, c))[0] if principal.is_staff else None
    return customer_to_proto(c, answers=answers, access=access, staff=principal.is_staff)


def group_to_proto(g: PermissionGroup, members: int = 0) -> identity_pb2.PermissionGroup:
    return identity_pb2.PermissionGroup(
        id=g.id, name=g.name, permissions=sorted(g.permissions), built_in=g.built_in, member_count=members
    )


def portal_user_to_proto(user: PortalUser, group: PermissionGroup) -> identity_pb2.PortalUser:
    return identity_pb2.PortalUser(
        id=user.id,
        customer_id=user.customer_id,
        contact_id=user.contact_id or "",
        login=user.login,
        email=user.email,
        group_name=group.name,
        admin_override=user.admin_override,
    )


_LINK_SCOPES = {
    identity_pb2.SECURE_LINK_SCOPE_TICKET: SCOPE_TICKET,
    identity_pb2.SECURE_LINK_SCOPE_SITE: SCOPE_SITE,
    identity_pb2.SECURE_LINK_SCOPE_CUSTOMER: SCOPE_CUSTOMER,
}
_LINK_SCOPES_PROTO = {v: k for k, v in _LINK_SCOPES.items()}


def secure_link_to_proto(link: SecureLink) -> identity_pb2.SecureLink:
    """A link as staff see it: never its token (only the hash is kept anyway, and not sent either)."""
    msg = identity_pb2.SecureLink(
        id=link.id,
        customer_id=link.customer_id,
        scope=_LINK_SCOPES_PROTO[link.scope],
        scope_id=link.scope_id,
        expires_at=_timestamp(link.expires_at),
        single_use=link.single_use,
        created_by=link.created_by,
        created_at=_timestamp(link.created_at),
        use_count=link.use_count,
        state=secure_links.state_of(link),
    )
    if link.used_at is not None:
        msg.used_at.CopyFrom(_timestamp(link.used_at))
    if link.revoked_at is not None:
        msg.revoked_at.CopyFrom(_timestamp(link.revoked_at))
    return msg


def _privacy(c: Customer) -> identity_pb2.PrivacySettings:
    return identity_pb2.PrivacySettings(
        receive_billing_emails=c.receive_billing_emails,
        receive_marketing_emails=c.receive_marketing_emails,
        receive_report_emails=c.receive_report_emails,
    )


class IdentityServicer(PortalControlsRpcs, EmailTemplateRpcs, identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        db: Database,
        *,
        tokens: PrincipalTokens,
        policy: sessions.SessionPolicy,
        ready: asyncio.Event | None = None,
        portal_url: str = "http://127.0.0.1:8000",
        mfa_issuer: str = "Customer portal",
        holders: DataHolders | None = None,
        box: SecretBox | None = None,
    ) -> None:
        # Encrypts TOTP secrets and the queued emails that carry a link (identity.secrets).
        self.box = box
        self.mfa_issuer = mfa_issuer
        # Asked before a customer is deleted; without it (in-process tests) identity asks no one and refuses.
        self.holders = holders or DataHolders({}, tokens=tokens)
        self.db = db
        self.portal_url = portal_url
        self.tokens = tokens
        self.policy = policy
        # Set once the bootstrap staff user exists, so the first staff sign-in cannot race its creation.
        self._ready = ready

    async def _write(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """A unit of work that is run once more after a uniqueness race with a concurrent call, which the
        second run then sees (an idempotency key already used, an email already taken)."""
        try:
            async with self.db.unit_of_work() as s:
                return await work(s)
        except IntegrityError:
            async with self.db.unit_of_work() as s:
                return await work(s)

    async def _auto_invite(
        self,
        s: AsyncSession,
        principal,
        *,
        customer_id: str,
        contact_id: str,
        email: str,  # noqa: ANN001
    ) -> None:
        """With "always invite new customers" on, a new customer or contact with an email gets a portal user and an
        invitation; a replayed create (or an email already used as a login) adds nothing."""
        if not email or not await portal_settings.always_invite(s) or await users.login_taken(s, email):
            return
        user, _ = await users.create_portal_user(
            s,
            principal=principal,
            customer_id=customer_id,
            contact_id=contact_id,
            login=email,
            email=email,
            password="",
        )
        await passwords.invite(s, user=user, portal_url=self.portal_url, box=self.box)

    async def SignIn(self, request: identity_pb2.SignInRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        if self._ready is not None and not self._ready.is_set():
            await asyncio.wait_for(self._ready.wait(), timeout=30)
        opened = await sessions.sign_in(
            self.db,
            login=request.login,
            password=request.password,
            audience=_AUDIENCES.get(request.audience, ""),
            client_address=request.client_address,
            policy=self.policy,
        )
        return identity_pb2.SignInResponse(
            session_token=opened.token,
            expires_at=_timestamp(opened.session.expires_at),
            principal=opened.principal.to_proto(),
            next_step=_NEXT_STEP[opened.pending],
        )

    async def ResolveSession(self, request: identity_pb2.ResolveSessionRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            session, principal = await sessions.resolve_session(s, token=request.session_token, policy=self.policy)
            renewal = await renewal_notice_ends_on(s, principal)
        token, expires = self.tokens.sign(principal, not_after=sessions.ends_at(session, self.policy))
        return identity_pb2.ResolveSessionResponse(
            principal=principal.to_proto(),
            principal_token=token,
            token_expires_at=Timestamp(seconds=expires),
            renewal_notice_ends_on=renewal,
        )

    async def SignOut(self, request: identity_pb2.SignOutRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            await sessions.sign_out(s, token=request.session_token)
        return identity_pb2.SignOutResponse()

    async def OpenSecureLink(self, request: identity_pb2.OpenSecureLinkRequest, context):  # noqa: N802, ANN001
        opened = await secure_links.open_link(
            self.db,
            token=request.token,
            client_address=request.client_address,
            user_agent=request.user_agent,
            policy=self.policy,
        )
        return identity_pb2.OpenSecureLinkResponse(
            session_token=opened.token,
            expires_at=_timestamp(opened.session.expires_at),
            principal=opened.principal.to_proto(),
        )

    async def CreateSecureLink(self, request: identity_pb2.CreateSecureLinkRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        if request.expires_in_seconds < 0 or request.expires_in_seconds > 10 * 365 * 86400:
            raise InvalidArgument("a link lives between 1 minute and 90 days", field="expires_in_seconds")
        async with self.db.unit_of_work() as s:
            created = await secure_links.create_link(
                s,
                principal=principal,
                customer_id=request.customer_id,
                scope=_LINK_SCOPES.get(request.scope, ""),
                scope_id=request.scope_id,
                lifetime=timedelta(seconds=request.expires_in_seconds) if request.expires_in_seconds else None,
                single_use=request.single_use,
            )
            link = secure_link_to_proto(created.link)
        return identity_pb2.CreateSecureLinkResponse(
            link=link,
            token=created.token,
            url=f"{self.portal_url.rstrip('/')}/link?token={created.token}",
        )

    async def ListSecureLinks(self, request: identity_pb2.ListSecureLinksRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await secure_links.list_links(s, principal=principal, customer_id=request.customer_id)
            return identity_pb2.ListSecureLinksResponse(links=[secure_link_to_proto(x) for x in rows])

    async def RevokeSecureLink(self, request: identity_pb2.RevokeSecureLinkRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            link = await secure_links.revoke_link(s, principal=principal, link_id=request.link_id)
            return identity_pb2.RevokeSecureLinkResponse(link=secure_link_to_proto(link))

    async def ListSecureLinkUses(self, request: identity_pb2.ListSecureLinkUsesRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            uses = await secure_links.list_uses(s, principal=principal, link_id=request.link_id)
        return identity_pb2.ListSecureLinkUsesResponse(
            uses=[
                identity_pb2.SecureLinkUse(
                    at=_timestamp(u.at), client_address=u.client_address, user_agent=u.user_agent, outcome=u.outcome
                )
                for u in uses
            ]
        )

    async def GetCustomer(self, request: identity_pb2.GetCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            customer = await customers.get_customer(s, principal=principal, customer_id=request.customer_id)
            subsidiaries = await customers.subsidiaries(s, customer.id) if principal.is_staff else []
            return identity_pb2.GetCustomerResponse(
                customer=await full_customer(s, customer, principal),
                subsidiaries=[customer_to_proto(c) for c in subsidiaries],
            )

    async def CreateCustomer(self, request: identity_pb2.CreateCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        details = details_from_proto(request)

        async def work(s: AsyncSession) -> identity_pb2.CreateCustomerResponse:
            customer = await customers.create_customer(
                s,
                principal=principal,
                business_name=request.business_name,
                first_name=request.first_name,
                last_name=request.last_name,
                email=request.email,
                idempotency_key=request.idempotency_key,
                details=details,
            )
            if details.portal_access is not None and not await customers.own_portal_user(s, customer):
                created = await customers.set_portal_access(
                    s, principal=principal, customer=customer, access=details.portal_access
                )
                if created is not None and not customer.no_email:
                    await passwords.invite(s, user=created, portal_url=self.portal_url, box=self.box)
            elif not customer.no_email:
                await self._auto_invite(s, principal, customer_id=customer.id, contact_id="", email=customer.email)
            return identity_pb2.CreateCustomerResponse(customer=await full_customer(s, customer, principal))

        return await self._write(work)

    async def ListCustomers(self, request: identity_pb2.ListCustomersRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows, next_cursor = await customers.list_customers(
                s,
                principal=principal,
                size=request.page.page_size,
                cursor=request.page.cursor,
                parent_id=request.parent_id,
            )
            answers = await custom_fields.answers_of(s, [c.id for c in rows])
            return identity_pb2.ListCustomersResponse(
                customers=[customer_to_proto(c, answers=answers[c.id]) for c in rows],
                page=common_pb2.PageResponse(next_cursor=next_cursor),
            )

    async def CreateContact(self, request: identity_pb2.CreateContactRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreateContactResponse:
            contact = await contacts.create_contact(
                s,
                principal=principal,
                customer_id=request.customer_id,
                name=request.name,
                email=request.email,
                idempotency_key=request.idempotency_key,
                phone=request.phone,
                title=request.title,
            )
            customer = await s.get(Customer, contact.customer_id)
            if customer is not None and customer.no_email:
                return identity_pb2.CreateContactResponse(contact=contact_to_proto(contact))
            await self._auto_invite(
                s, principal, customer_id=contact.customer_id, contact_id=contact.id, email=contact.email
            )
            return identity_pb2.CreateContactResponse(contact=contact_to_proto(contact))

        return await self._write(work)

    async def CreatePortalUser(self, request: identity_pb2.CreatePortalUserRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreatePortalUserResponse:
            user, group = await users.create_portal_user(
                s,
                principal=principal,
                customer_id=request.customer_id,
                contact_id=request.contact_id,
                login=request.login,
                email=request.email,
                password=request.password,
                group_name=request.group_name,
                require_mfa=request.require_mfa,
            )
            if not request.password:
                await passwords.invite(s, user=user, portal_url=self.portal_url, box=self.box)
            return identity_pb2.CreatePortalUserResponse(portal_user=portal_user_to_proto(user, group))

        return await self._write(work)

    async def ListPermissionGroups(self, request: identity_pb2.ListPermissionGroupsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await groups.list_groups(s, principal=principal)
            counts = await groups.member_counts(s)
            return identity_pb2.ListPermissionGroupsResponse(
                groups=[group_to_proto(g, counts.get(g.id, 0)) for g in rows]
            )

    async def CreatePermissionGroup(self, request: identity_pb2.CreatePermissionGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreatePermissionGroupResponse:
            group = await groups.create_group(
                s, principal=principal, name=request.name, permissions=list(request.permissions)
            )
            return identity_pb2.CreatePermissionGroupResponse(group=group_to_proto(group))

        return await self._write(work)

    async def UpdatePermissionGroup(self, request: identity_pb2.UpdatePermissionGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.UpdatePermissionGroupResponse:
            group = await groups.update_group(
                s,
                principal=principal,
                group_id=request.group_id,
                name=request.name,
                permissions=list(request.permissions),
            )
            counts = await groups.member_counts(s)
            return identity_pb2.UpdatePermissionGroupResponse(group=group_to_proto(group, counts.get(group.id, 0)))

        return await self._write(work)

    async def DeletePermissionGroup(self, request: identity_pb2.DeletePermissionGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await groups.delete_group(s, principal=principal, group_id=request.group_id)
        return identity_pb2.DeletePermissionGroupResponse()

    async def SetPortalUserGroup(self, request: identity_pb2.SetPortalUserGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            user, group = await users.set_portal_user_group(
                s, principal=principal, portal_user_id=request.portal_user_id, group_name=request.group_name
            )
            return identity_pb2.SetPortalUserGroupResponse(portal_user=portal_user_to_proto(user, group))

    async def RequestPasswordReset(self, request: identity_pb2.RequestPasswordResetRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            await passwords.request_reset(
                s,
                login=request.login,
                portal_url=self.portal_url,
                client_address=request.client_address,
                box=self.box,
                language=request.language or "en",
            )
        return identity_pb2.RequestPasswordResetResponse()

    async def CheckPasswordToken(self, request: identity_pb2.CheckPasswordTokenRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            purpose = await passwords.check_token(s, token=request.token)
        return identity_pb2.CheckPasswordTokenResponse(purpose=purpose)

    async def SetPasswordWithToken(self, request: identity_pb2.SetPasswordWithTokenRequest, context):  # noqa: N802, ANN001
        user = await passwords.set_password_with_token(
            self.db, token=request.token, new_password=request.new_password, client_address=request.client_address
        )
        return identity_pb2.SetPasswordWithTokenResponse(login=user.login)

    async def ChangePassword(self, request: identity_pb2.ChangePasswordRequest, context):  # noqa: N802, ANN001
        revoked = await passwords.change_password(
            self.db,
            principal=current_principal(),
            current_password=request.current_password,
            new_password=request.new_password,
            client_address=request.client_address,
        )
        return identity_pb2.ChangePasswordResponse(sessions_revoked=revoked)

    async def VerifyMfaCode(self, request: identity_pb2.VerifyMfaCodeRequest, context):  # noqa: N802, ANN001
        left = await mfa.verify_code(
            self.db,
            token=request.session_token,
            code=request.code,
            policy=self.policy,
            address=request.client_address,
            box=self.box,
        )
        return identity_pb2.VerifyMfaCodeResponse(recovery_codes_left=left)

    async def BeginMfaEnrolment(self, request: identity_pb2.BeginMfaEnrolmentRequest, context):  # noqa: N802, ANN001
        enrolment = await mfa.begin_enrolment(
            self.db, token=request.session_token, policy=self.policy, issuer=self.mfa_issuer, box=self.box
        )
        return identity_pb2.BeginMfaEnrolmentResponse(
            secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
        )

    async def ConfirmMfaEnrolment(self, request: identity_pb2.ConfirmMfaEnrolmentRequest, context):  # noqa: N802, ANN001
        codes = await mfa.confirm_enrolment(
            self.db,
            token=request.session_token,
            code=request.code,
            policy=self.policy,
            address=request.client_address,
            box=self.box,
        )
        return identity_pb2.ConfirmMfaEnrolmentResponse(recovery_codes=codes)

    async def ResetMfa(self, request: identity_pb2.ResetMfaRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await mfa.reset_mfa(s, principal=principal, portal_user_id=request.portal_user_id)
        return identity_pb2.ResetMfaResponse()

    async def SetRequireMfa(self, request: identity_pb2.SetRequireMfaRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await mfa.set_require_mfa(
                s, principal=principal, portal_user_id=request.portal_user_id, required=request.require_mfa
            )
        return identity_pb2.SetRequireMfaResponse()

    async def InvitePortalUser(self, request: identity_pb2.InvitePortalUserRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            user = await users.portal_user(s, principal=principal, portal_user_id=request.portal_user_id)
            sent = await passwords.invite(
                s, user=user, portal_url=self.portal_url, box=self.box, language=request.language or "en"
            )
            if not sent:
                raise FailedPrecondition(passwords.NO_EMAIL, field="portal_user_id")
        return identity_pb2.InvitePortalUserResponse()

    async def GetPortalSettings(self, request: identity_pb2.GetPortalSettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        access.require_staff(principal)
        async with self.db.unit_of_work() as s:
            on = await portal_settings.always_invite(s)
        return identity_pb2.GetPortalSettingsResponse(
            settings=identity_pb2.PortalSettings(always_invite_new_customers=on)
        )

    async def UpdatePortalSettings(self, request: identity_pb2.UpdatePortalSettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await portal_settings.set_always_invite(
                s, principal=principal, on=request.settings.always_invite_new_customers
            )
            on = await portal_settings.always_invite(s)
        return identity_pb2.UpdatePortalSettingsResponse(
            settings=identity_pb2.PortalSettings(always_invite_new_customers=on)
        )

    async def SetCustomerArchived(self, request: identity_pb2.SetCustomerArchivedRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            customer = await customers.set_archived(
                s, principal=principal, customer_id=request.customer_id, archived=request.archived
            )
            return identity_pb2.SetCustomerArchivedResponse(customer=await full_customer(s, customer, principal))

    async def GetPrivacySettings(self, request: identity_pb2.GetPrivacySettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            customer = await customers.privacy_customer(s, principal=principal, customer_id=request.customer_id)
            return identity_pb2.GetPrivacySettingsResponse(settings=_privacy(customer))

    async def UpdatePrivacySettings(self, request: identity_pb2.UpdatePrivacySettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        values = {name: getattr(request.settings, name) for name in customers.PRIVACY_FIELDS}
        async with self.db.unit_of_work() as s:
            customer = await customers.set_privacy(
                s, principal=principal, customer_id=request.customer_id, values=values
            )
            return identity_pb2.UpdatePrivacySettingsResponse(settings=_privacy(customer))

    async def UpdateCustomer(self, request: identity_pb2.UpdateCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        details = details_from_proto(request)

        async def work(s: AsyncSession) -> identity_pb2.UpdateCustomerResponse:
            customer = await customers.update_customer(
                s,
                principal=principal,
                customer_id=request.customer_id,
                business_name=request.business_name,
                first_name=request.first_name,
                last_name=request.last_name,
                email=request.email,
                details=details,
            )
            if details.portal_access is not None:
                created = await customers.set_portal_access(
                    s, principal=principal, customer=customer, access=details.portal_access
                )
                if created is not None and not customer.no_email:
                    await passwords.invite(s, user=created, portal_url=self.portal_url, box=self.box)
            return identity_pb2.UpdateCustomerResponse(customer=await full_customer(s, customer, principal))

        return await self._write(work)

    async def _holdings(self, principal: Principal, customer_id: str) -> list[Holding]:
        """What identity and every other service hold for the customer; the network part runs between units of
        work, as a transaction held across it would stall the process's one SQLite connection."""
        access.require_staff(principal)
        async with self.db.unit_of_work() as s:
            customer = await customers.get_customer(s, principal=principal, customer_id=request_id(customer_id))
            local = [Holding("identity", k, n) for k, n in await customers.local_holders(s, customer.id)]
        return local + await self.holders.ask(customer.id)

    async def GetCustomerDataHolders(self, request: identity_pb2.GetCustomerDataHoldersRequest, context):  # noqa: N802, ANN001
        return holders_to_proto(await self._holdings(current_principal(), request.customer_id))

    async def DeleteCustomer(self, request: identity_pb2.DeleteCustomerRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        holdings = await self._holdings(principal, request.customer_id)
        if holdings:
            raise FailedPrecondition(
                f"this customer cannot be deleted while data is held for it: {describe(holdings)}; archive it instead"
            )
        async with self.db.unit_of_work() as s:
            await customers.delete_customer(s, principal=principal, customer_id=request.customer_id)
        return identity_pb2.DeleteCustomerResponse()

    async def ListContacts(self, request: identity_pb2.ListContactsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await contacts.list_contacts(s, principal=principal, customer_id=request.customer_id)
            return identity_pb2.ListContactsResponse(contacts=[contact_to_proto(c) for c in rows])

    async def UpdateContact(self, request: identity_pb2.UpdateContactRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            contact = await contacts.update_contact(
                s,
                principal=principal,
                contact_id=request.contact_id,
                name=request.name,
                email=request.email,
                phone=request.phone,
                title=request.title,
            )
            return identity_pb2.UpdateContactResponse(contact=contact_to_proto(contact))

    async def ListCustomFields(self, request: identity_pb2.ListCustomFieldsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await custom_fields.list_fields(s, principal=principal)
            return identity_pb2.ListCustomFieldsResponse(fields=[field_to_proto(f) for f in rows])

    async def CreateCustomField(self, request: identity_pb2.CreateCustomFieldRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreateCustomFieldResponse:
            field = await custom_fields.create_field(
                s,
                principal=principal,
                name=request.name,
                field_type=request.type,
                options=options_from_proto(request.options),
            )
            return identity_pb2.CreateCustomFieldResponse(field=field_to_proto(field))

        return await self._write(work)

    async def UpdateCustomField(self, request: identity_pb2.UpdateCustomFieldRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.UpdateCustomFieldResponse:
            field = await custom_fields.update_field(
                s,
                principal=principal,
                field_id=request.field_id,
                name=request.name,
                options=options_from_proto(request.options),
                position=request.position,
            )
            return identity_pb2.UpdateCustomFieldResponse(field=field_to_proto(field))

        return await self._write(work)

    async def DeleteCustomField(self, request: identity_pb2.DeleteCustomFieldRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await custom_fields.delete_field(s, principal=principal, field_id=request.field_id)
        return identity_pb2.DeleteCustomFieldResponse()


def request_id(customer_id: str) -> str:
    """A customer id from a request: required (staff calls have no customer of their own to default to)."""
    if not customer_id:
        raise InvalidArgument("enter a customer id", field="customer_id")
    return customer_id
