"""IdentityService: sign-in, sessions, the customer record.

Two reads portal pages make on a view are in the read cache (clients/read_cache.py, area "identity"):
`list_contacts` (the new-ticket form's contact picker; a customer's contacts move with identity's ContactsChanged and
CustomerDeleted) and `customer_name_and_warning` (the home's names of subsidiaries' invoices; a customer's record
moves with CustomerUpdated and CustomerDeleted). `get_customer` is not cached: the principal cache (edge/sessions.py)
calls it when it re-resolves a session after a CustomerUpdated it heard on its own subscription, and a read cache
whose change feed had not yet heard the same event would hand it the old name for the session's whole life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import grpc

from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import (
    AuditEntry,
    Customer,
    Page,
    PushDevice,
    PushPreferences,
    PushSettings,
    SignInResult,
    opt_datetime,
)
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from servicekit.principal import Principal

AUDIENCE_PORTAL = identity_pb2.AUDIENCE_PORTAL
AUDIENCE_STAFF = identity_pb2.AUDIENCE_STAFF
# What a sign-in still needs before the session works (SPEC P4).
STEP_DONE = "done"
STEP_MFA_CODE = "mfa_code"
STEP_MFA_ENROL = "mfa_enrol"
_STEPS = {identity_pb2.SIGN_IN_STEP_MFA_CODE: STEP_MFA_CODE, identity_pb2.SIGN_IN_STEP_MFA_ENROL: STEP_MFA_ENROL}


# The identity messages the staff API reads and converts into its own schemas; only clients/ imports the
# generated code, the API names them through here.
ContactMessage = identity_pb2.Contact
CustomerMessage = identity_pb2.Customer
CustomFieldMessage = identity_pb2.CustomField
PermissionGroupMessage = identity_pb2.PermissionGroup
PortalUserMessage = identity_pb2.PortalUser
StaffUserMessage = identity_pb2.StaffUser
SecureLinkMessage = identity_pb2.SecureLink
EmailTemplateMessage = identity_pb2.EmailTemplate
CustomerSettingsMessage = identity_pb2.CustomerSettings
# What a secure link opens (SPEC P6), by the staff API's word for it.
SECURE_LINK_SCOPES = {
    "ticket": identity_pb2.SECURE_LINK_SCOPE_TICKET,
    "site": identity_pb2.SECURE_LINK_SCOPE_SITE,
    "customer": identity_pb2.SECURE_LINK_SCOPE_CUSTOMER,
}


# identity's UNAVAILABLE answer when its password-hashing queue is full ("busy: …"), and the trailing metadata
# that says how many seconds to wait.
_BUSY_PREFIX = "busy:"
_RETRY_AFTER = "retry-after"
DEFAULT_RETRY_AFTER = 2


class SignInBusy(Exception):
    """identity could not take this sign-in now (its hashing queue is full, or the sign-in deadline passed):
    nothing was counted; try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"sign-in busy, retry after {retry_after} s")
        self.retry_after = retry_after


def _busy(err: grpc.aio.AioRpcError) -> SignInBusy | None:
    if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return SignInBusy(DEFAULT_RETRY_AFTER)
    if err.code() != grpc.StatusCode.UNAVAILABLE or not (err.details() or "").startswith(_BUSY_PREFIX):
        return None
    hint = dict(err.trailing_metadata() or ()).get(_RETRY_AFTER, "")
    seconds = int(hint) if isinstance(hint, str) and hint.isdigit() else DEFAULT_RETRY_AFTER
    return SignInBusy(min(max(seconds, 1), 30))


class SignInOutcome(SignInResult):
    next_step: str = STEP_DONE


@dataclass(frozen=True)
class MfaEnrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class ResolvedSession:
    principal: Principal
    principal_token: str
    token_expires_at: datetime | None
    renewal_notice_ends_on: str = ""
    mfa_enabled: bool = False
    # SPEC H5: the user's own language, else its customer's default; "" when neither is set.
    language: str = ""


class IdentityClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float, *, signin_timeout: float | None = None) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._call = Caller("identity", timeout)
        self._signin_timeout = signin_timeout or timeout

    async def sign_in(
        self, *, login: str, password: str, audience: int, client_address: str, attempt_id: str = ""
    ) -> SignInOutcome:
        """SignIn with its own, longer deadline (GATEWAY_SIGNIN_TIMEOUT_SECONDS); SignInBusy when identity's hashing
        queue is full or the deadline passed."""
        req = identity_pb2.SignInRequest(
            login=login, password=password, audience=audience, client_address=client_address, attempt_id=attempt_id
        )
        try:
            resp = await self._call(self._stub.SignIn, req, None, deadline=self._signin_timeout)
        except grpc.aio.AioRpcError as err:
            busy = _busy(err)
            if busy is None:
                raise
            raise busy from None
        return SignInOutcome(
            session_token=resp.session_token,
            expires_at=opt_datetime(resp, "expires_at"),
            next_step=_STEPS.get(resp.next_step, STEP_DONE),
        )

    async def resolve_session(self, session_token: str) -> ResolvedSession:
        resp = await self._call(
            self._stub.ResolveSession, identity_pb2.ResolveSessionRequest(session_token=session_token), None
        )
        return ResolvedSession(
            principal=Principal.from_proto(resp.principal),
            principal_token=resp.principal_token,
            token_expires_at=opt_datetime(resp, "token_expires_at"),
            renewal_notice_ends_on=resp.renewal_notice_ends_on,
            mfa_enabled=resp.mfa_enabled,
            language=resp.language,
        )

    async def set_my_language(self, token: str, language: str) -> str:
        req = identity_pb2.SetMyLanguageRequest(language=language)
        return (await self._call(self._stub.SetMyLanguage, req, token)).language

    async def set_customer_language(self, token: str, *, customer_id: str, language: str) -> str:
        req = identity_pb2.SetCustomerLanguageRequest(customer_id=customer_id, language=language)
        return (await self._call(self._stub.SetCustomerLanguage, req, token)).language

    async def sign_out(self, session_token: str) -> None:
        await self._call(self._stub.SignOut, identity_pb2.SignOutRequest(session_token=session_token), None)

    # Secure links (SPEC P6).
    async def open_secure_link(self, token: str, *, client_address: str, user_agent: str) -> SignInResult:
        req = identity_pb2.OpenSecureLinkRequest(token=token, client_address=client_address, user_agent=user_agent)
        resp = await self._call(self._stub.OpenSecureLink, req, None)
        return SignInResult(session_token=resp.session_token, expires_at=opt_datetime(resp, "expires_at"))

    async def create_secure_link(
        self,
        token: str,
        *,
        customer_id: str,
        scope: str,
        scope_id: str,
        expires_in_seconds: int,
        single_use: bool,
    ) -> identity_pb2.CreateSecureLinkResponse:
        req = identity_pb2.CreateSecureLinkRequest(
            customer_id=customer_id,
            scope=SECURE_LINK_SCOPES[scope],
            scope_id=scope_id,
            expires_in_seconds=expires_in_seconds,
            single_use=single_use,
        )
        return await self._call(self._stub.CreateSecureLink, req, token)

    async def list_secure_links(self, token: str, customer_id: str) -> list[identity_pb2.SecureLink]:
        req = identity_pb2.ListSecureLinksRequest(customer_id=customer_id)
        return list((await self._call(self._stub.ListSecureLinks, req, token)).links)

    async def revoke_secure_link(self, token: str, link_id: str) -> identity_pb2.SecureLink:
        req = identity_pb2.RevokeSecureLinkRequest(link_id=link_id)
        return (await self._call(self._stub.RevokeSecureLink, req, token)).link

    async def list_secure_link_uses(self, token: str, link_id: str) -> list[identity_pb2.SecureLinkUse]:
        req = identity_pb2.ListSecureLinkUsesRequest(link_id=link_id)
        return list((await self._call(self._stub.ListSecureLinkUses, req, token)).uses)

    async def get_customer(self, token: str, customer_id: str) -> Customer:
        resp = await self._call(self._stub.GetCustomer, identity_pb2.GetCustomerRequest(customer_id=customer_id), token)
        return Customer.from_proto(resp.customer)

    async def bill_to(self, token: str, customer_id: str) -> tuple[str, list[str]]:
        """The customer's name and its billing address (else its first address) as printed lines, for an invoice PDF;
        ("", []) when the caller may not read the customer (billing already decided it may see the invoice)."""
        try:
            resp = await self._call(
                self._stub.GetCustomer, identity_pb2.GetCustomerRequest(customer_id=customer_id), token
            )
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                return "", []
            raise
        c = resp.customer
        addresses = sorted(c.addresses, key=lambda a: a.type != "billing")
        lines: list[str] = []
        if addresses:
            a = addresses[0]
            place = " ".join(p for p in (a.postal_code, a.city) if p)
            lines = [ln for ln in (a.line1, a.line2, ", ".join(p for p in (place, a.region) if p), a.country) if ln]
        return c.display_name, lines

    async def internal_ticket_warning(self, token: str, customer_id: str) -> str:
        """The customer's internal ticket warning (C3), shown to staff on every new ticket (T3); '' when none.
        Read defensively: an identity that does not carry the setting yet simply has no warning."""
        resp = await self._call(self._stub.GetCustomer, identity_pb2.GetCustomerRequest(customer_id=customer_id), token)
        settings = getattr(resp.customer, "settings", None)
        return str(getattr(settings, "internal_ticket_warning", "") or "")

    @cached("identity")
    async def customer_name_and_warning(self, token: str, customer_id: str) -> tuple[str, str]:
        """The customer's display name and its internal ticket warning ('' when none, and always for a portal user,
        who sees no settings but remote access), in one call."""
        resp = await self._call(self._stub.GetCustomer, identity_pb2.GetCustomerRequest(customer_id=customer_id), token)
        settings = getattr(resp.customer, "settings", None)
        return Customer.from_proto(resp.customer).display_name, str(
            getattr(settings, "internal_ticket_warning", "") or ""
        )

    async def audit_log(
        self,
        token: str,
        *,
        page_size: int = 0,
        cursor: str = "",
        kind: str = "",
        subject: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[Page[AuditEntry], list[str]]:
        """Staff only: the audit log newest first, and every kind it can hold."""
        req = identity_pb2.ListAuditEntriesRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor), kind=kind, subject=subject
        )
        if since is not None:
            req.since.FromDatetime(since)
        if until is not None:
            req.until.FromDatetime(until)
        resp = await self._call(self._stub.ListAuditEntries, req, token)
        page = Page(items=[AuditEntry.from_proto(e) for e in resp.entries], next_cursor=resp.page.next_cursor or None)
        return page, list(resp.kinds)

    async def list_customers(self, token: str, *, page_size: int = 0, cursor: str = "") -> Page[Customer]:
        """Staff only."""
        req = identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))
        resp = await self._call(self._stub.ListCustomers, req, token)
        return Page([Customer.from_proto(c) for c in resp.customers], resp.page.next_cursor or None)

    # --- passwords (SPEC P3) -------------------------------------------------------------------------

    async def request_password_reset(self, *, login: str, client_address: str, language: str = "en") -> None:
        req = identity_pb2.RequestPasswordResetRequest(login=login, client_address=client_address, language=language)
        await self._call(self._stub.RequestPasswordReset, req, None)

    async def check_password_token(self, token: str) -> str:
        """The purpose ("reset" or "invite") of a live link; FAILED_PRECONDITION when it no longer works."""
        req = identity_pb2.CheckPasswordTokenRequest(token=token)
        return (await self._call(self._stub.CheckPasswordToken, req, None)).purpose

    async def set_password_with_token(self, *, token: str, new_password: str, client_address: str) -> str:
        """Uses the link once; returns the login to sign in with."""
        req = identity_pb2.SetPasswordWithTokenRequest(
            token=token, new_password=new_password, client_address=client_address
        )
        return (await self._call(self._stub.SetPasswordWithToken, req, None)).login

    async def change_password(
        self, token: str, *, current_password: str, new_password: str, client_address: str
    ) -> int:
        req = identity_pb2.ChangePasswordRequest(
            current_password=current_password, new_password=new_password, client_address=client_address
        )
        return (await self._call(self._stub.ChangePassword, req, token)).sessions_revoked

    # --- MFA (SPEC P4): authenticated by the session token, which resolves to no principal until done ----

    async def verify_mfa_code(self, session_token: str, *, code: str, client_address: str) -> int:
        req = identity_pb2.VerifyMfaCodeRequest(session_token=session_token, code=code, client_address=client_address)
        return (await self._call(self._stub.VerifyMfaCode, req, None)).recovery_codes_left

    async def begin_mfa_enrolment(self, session_token: str) -> MfaEnrolment:
        req = identity_pb2.BeginMfaEnrolmentRequest(session_token=session_token)
        resp = await self._call(self._stub.BeginMfaEnrolment, req, None)
        return MfaEnrolment(secret=resp.secret, otpauth_uri=resp.otpauth_uri, qr_svg=resp.qr_svg)

    async def confirm_mfa_enrolment(self, session_token: str, *, code: str, client_address: str) -> list[str]:
        req = identity_pb2.ConfirmMfaEnrolmentRequest(
            session_token=session_token, code=code, client_address=client_address
        )
        return list((await self._call(self._stub.ConfirmMfaEnrolment, req, None)).recovery_codes)

    # --- staff: permission groups, portal users, settings (SPEC P2, P4, P5, S2) --------------------------

    async def list_permission_groups(self, token: str) -> list[identity_pb2.PermissionGroup]:
        req = identity_pb2.ListPermissionGroupsRequest()
        return list((await self._call(self._stub.ListPermissionGroups, req, token)).groups)

    async def create_permission_group(
        self, token: str, *, name: str, permissions: list[str]
    ) -> identity_pb2.PermissionGroup:
        req = identity_pb2.CreatePermissionGroupRequest(name=name, permissions=permissions)
        return (await self._call(self._stub.CreatePermissionGroup, req, token)).group

    async def update_permission_group(
        self, token: str, *, group_id: str, name: str, permissions: list[str]
    ) -> identity_pb2.PermissionGroup:
        req = identity_pb2.UpdatePermissionGroupRequest(group_id=group_id, name=name, permissions=permissions)
        return (await self._call(self._stub.UpdatePermissionGroup, req, token)).group

    async def delete_permission_group(self, token: str, group_id: str) -> None:
        req = identity_pb2.DeletePermissionGroupRequest(group_id=group_id)
        await self._call(self._stub.DeletePermissionGroup, req, token)

    # Staff accounts (SPEC S1): admin only in identity, a technician gets PERMISSION_DENIED (403).
    async def list_staff_users(self, token: str) -> list[identity_pb2.StaffUser]:
        req = identity_pb2.ListStaffUsersRequest()
        return list((await self._call(self._stub.ListStaffUsers, req, token)).staff_users)

    async def invite_staff_user(
        self, token: str, *, email: str, name: str, role: str, idempotency_key: str, language: str
    ) -> identity_pb2.StaffUser:
        req = identity_pb2.InviteStaffUserRequest(
            email=email, name=name, role=role, idempotency_key=idempotency_key, language=language
        )
        return (await self._call(self._stub.InviteStaffUser, req, token)).staff_user

    async def resend_staff_invitation(self, token: str, *, staff_user_id: str, language: str) -> identity_pb2.StaffUser:
        req = identity_pb2.ResendStaffInvitationRequest(staff_user_id=staff_user_id, language=language)
        return (await self._call(self._stub.ResendStaffInvitation, req, token)).staff_user

    async def set_staff_role(self, token: str, *, staff_user_id: str, role: str) -> identity_pb2.StaffUser:
        req = identity_pb2.SetStaffRoleRequest(staff_user_id=staff_user_id, role=role)
        return (await self._call(self._stub.SetStaffRole, req, token)).staff_user

    async def set_staff_active(self, token: str, *, staff_user_id: str, active: bool) -> identity_pb2.StaffUser:
        req = identity_pb2.SetStaffActiveRequest(staff_user_id=staff_user_id, active=active)
        return (await self._call(self._stub.SetStaffActive, req, token)).staff_user

    async def reset_staff_mfa(self, token: str, *, staff_user_id: str) -> identity_pb2.StaffUser:
        req = identity_pb2.ResetStaffMfaRequest(staff_user_id=staff_user_id)
        return (await self._call(self._stub.ResetStaffMfa, req, token)).staff_user

    async def check_staff_invitation(self, token: str) -> str:
        """The login a live staff invitation is for; FAILED_PRECONDITION when the link no longer works."""
        req = identity_pb2.CheckStaffInvitationRequest(token=token)
        return (await self._call(self._stub.CheckStaffInvitation, req, None)).login

    async def accept_staff_invitation(self, *, token: str, new_password: str, client_address: str) -> str:
        req = identity_pb2.AcceptStaffInvitationRequest(
            token=token, new_password=new_password, client_address=client_address
        )
        return (await self._call(self._stub.AcceptStaffInvitation, req, None)).login

    async def create_portal_user(self, token: str, **fields: object) -> identity_pb2.PortalUser:
        req = identity_pb2.CreatePortalUserRequest(**fields)
        return (await self._call(self._stub.CreatePortalUser, req, token)).portal_user

    async def set_portal_user_group(
        self, token: str, *, portal_user_id: str, group_name: str
    ) -> identity_pb2.PortalUser:
        req = identity_pb2.SetPortalUserGroupRequest(portal_user_id=portal_user_id, group_name=group_name)
        return (await self._call(self._stub.SetPortalUserGroup, req, token)).portal_user

    async def staff_directory(self, token: str) -> dict[str, str]:
        """Any staff member: the active staff by id → name, in name order."""
        resp = await self._call(self._stub.ListStaffDirectory, identity_pb2.ListStaffDirectoryRequest(), token)
        return {e.id: e.name for e in resp.staff}

    async def list_portal_users(self, token: str, customer_id: str) -> list[identity_pb2.PortalUser]:
        """Staff only: the customer's portal users with group, MFA and invitation state."""
        req = identity_pb2.ListPortalUsersRequest(customer_id=customer_id)
        return list((await self._call(self._stub.ListPortalUsers, req, token)).portal_users)

    async def invite_portal_user(self, token: str, portal_user_id: str) -> None:
        req = identity_pb2.InvitePortalUserRequest(portal_user_id=portal_user_id)
        await self._call(self._stub.InvitePortalUser, req, token)

    async def set_require_mfa(self, token: str, *, portal_user_id: str, require_mfa: bool) -> None:
        req = identity_pb2.SetRequireMfaRequest(portal_user_id=portal_user_id, require_mfa=require_mfa)
        await self._call(self._stub.SetRequireMfa, req, token)

    async def reset_mfa(self, token: str, portal_user_id: str) -> None:
        await self._call(self._stub.ResetMfa, identity_pb2.ResetMfaRequest(portal_user_id=portal_user_id), token)

    async def get_portal_settings(self, token: str) -> identity_pb2.PortalSettings:
        req = identity_pb2.GetPortalSettingsRequest()
        return (await self._call(self._stub.GetPortalSettings, req, token)).settings

    async def update_portal_settings(
        self, token: str, *, always_invite_new_customers: bool
    ) -> identity_pb2.PortalSettings:
        settings = identity_pb2.PortalSettings(always_invite_new_customers=always_invite_new_customers)
        req = identity_pb2.UpdatePortalSettingsRequest(settings=settings)
        return (await self._call(self._stub.UpdatePortalSettings, req, token)).settings

    async def set_customer_archived(self, token: str, *, customer_id: str, archived: bool) -> identity_pb2.Customer:
        req = identity_pb2.SetCustomerArchivedRequest(customer_id=customer_id, archived=archived)
        return (await self._call(self._stub.SetCustomerArchived, req, token)).customer

    async def get_privacy_settings(self, token: str) -> identity_pb2.PrivacySettings:
        req = identity_pb2.GetPrivacySettingsRequest()
        return (await self._call(self._stub.GetPrivacySettings, req, token)).settings

    async def update_privacy_settings(self, token: str, **values: bool) -> identity_pb2.PrivacySettings:
        req = identity_pb2.UpdatePrivacySettingsRequest(settings=identity_pb2.PrivacySettings(**values))
        return (await self._call(self._stub.UpdatePrivacySettings, req, token)).settings

    # --- web push (X7): the signed-in portal user's own ---------------------------------------------------------

    async def get_push_settings(self, token: str) -> PushSettings:
        resp = await self._call(self._stub.GetPushSettings, identity_pb2.GetPushSettingsRequest(), token)
        return PushSettings(
            vapid_public_key=resp.vapid_public_key,
            preferences=PushPreferences.from_proto(resp.preferences),
            devices=[PushDevice.from_proto(s) for s in resp.subscriptions],
        )

    async def set_push_preferences(self, token: str, prefs: PushPreferences) -> PushPreferences:
        req = identity_pb2.SetPushPreferencesRequest(preferences=identity_pb2.PushPreferences(**prefs.model_dump()))
        return PushPreferences.from_proto((await self._call(self._stub.SetPushPreferences, req, token)).preferences)

    async def add_push_subscription(
        self, token: str, *, endpoint: str, p256dh: str, auth: str, user_agent: str
    ) -> PushDevice:
        req = identity_pb2.AddPushSubscriptionRequest(
            endpoint=endpoint, p256dh=p256dh, auth=auth, user_agent=user_agent
        )
        return PushDevice.from_proto((await self._call(self._stub.AddPushSubscription, req, token)).subscription)

    async def remove_push_subscription(self, token: str, subscription_id: str) -> None:
        req = identity_pb2.RemovePushSubscriptionRequest(subscription_id=subscription_id)
        await self._call(self._stub.RemovePushSubscription, req, token)

    # --- staff: customers, contacts, custom fields (SPEC C1-C6) ---------------------------------------------

    async def get_customer_record(self, token: str, customer_id: str) -> identity_pb2.GetCustomerResponse:
        """The whole record with its subsidiaries (staff)."""
        return await self._call(self._stub.GetCustomer, identity_pb2.GetCustomerRequest(customer_id=customer_id), token)

    async def list_customer_records(
        self, token: str, *, page_size: int = 0, cursor: str = "", parent_id: str = "", query: str = ""
    ) -> identity_pb2.ListCustomersResponse:
        req = identity_pb2.ListCustomersRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor), parent_id=parent_id, query=query
        )
        return await self._call(self._stub.ListCustomers, req, token)

    async def create_customer(self, token: str, *, idempotency_key: str, **fields: object) -> identity_pb2.Customer:
        """`fields` as the staff API's CustomerBody.fields() gives them (plain values, lists and dicts)."""
        req = identity_pb2.CreateCustomerRequest(idempotency_key=idempotency_key, **_customer_fields(fields))
        return (await self._call(self._stub.CreateCustomer, req, token)).customer

    async def update_customer(self, token: str, *, customer_id: str, **fields: object) -> identity_pb2.Customer:
        req = identity_pb2.UpdateCustomerRequest(customer_id=customer_id, **_customer_fields(fields))
        return (await self._call(self._stub.UpdateCustomer, req, token)).customer

    async def customer_data_holders(self, token: str, customer_id: str) -> identity_pb2.GetCustomerDataHoldersResponse:
        req = identity_pb2.GetCustomerDataHoldersRequest(customer_id=customer_id)
        return await self._call(self._stub.GetCustomerDataHolders, req, token)

    async def delete_customer(self, token: str, customer_id: str) -> None:
        await self._call(self._stub.DeleteCustomer, identity_pb2.DeleteCustomerRequest(customer_id=customer_id), token)

    @cached("identity")
    async def list_contacts(self, token: str, customer_id: str) -> list[identity_pb2.Contact]:
        """A customer's contacts (staff: whole; a View All portal user: its own customer's, ids and names). Cached
        for portal users: the list and its messages are shared, read them only."""
        req = identity_pb2.ListContactsRequest(customer_id=customer_id)
        return list((await self._call(self._stub.ListContacts, req, token)).contacts)

    async def create_contact(self, token: str, **fields: str) -> identity_pb2.Contact:
        req = identity_pb2.CreateContactRequest(**fields)
        return (await self._call(self._stub.CreateContact, req, token)).contact

    async def update_contact(self, token: str, **fields: str) -> identity_pb2.Contact:
        req = identity_pb2.UpdateContactRequest(**fields)
        return (await self._call(self._stub.UpdateContact, req, token)).contact

    async def list_custom_fields(self, token: str) -> list[identity_pb2.CustomField]:
        req = identity_pb2.ListCustomFieldsRequest()
        return list((await self._call(self._stub.ListCustomFields, req, token)).fields)

    async def create_custom_field(
        self,
        token: str,
        *,
        name: str,
        type: str,
        options: list[dict],  # noqa: A002 - the field's name in the API
    ) -> identity_pb2.CustomField:
        """`options`: [{"value": …, "badge": {"label": …, "color": …} or None}]."""
        req = identity_pb2.CreateCustomFieldRequest(name=name, type=type, options=_options(options))
        return (await self._call(self._stub.CreateCustomField, req, token)).field

    async def update_custom_field(
        self, token: str, *, field_id: str, name: str, options: list[dict], position: int
    ) -> identity_pb2.CustomField:
        req = identity_pb2.UpdateCustomFieldRequest(
            field_id=field_id, name=name, options=_options(options), position=position
        )
        return (await self._call(self._stub.UpdateCustomField, req, token)).field

    async def delete_custom_field(self, token: str, field_id: str) -> None:
        req = identity_pb2.DeleteCustomFieldRequest(field_id=field_id)
        await self._call(self._stub.DeleteCustomField, req, token)


def _customer_fields(fields: dict) -> dict:
    """A customer's fields as the request messages want them: phones, addresses, answers, settings and portal
    access become their messages; settings and portal access only when given (left out: unchanged)."""
    values = dict(fields)
    values["phones"] = [identity_pb2.Phone(**p) for p in values.get("phones", ())]
    values["addresses"] = [identity_pb2.Address(**a) for a in values.get("addresses", ())]
    values["custom_fields"] = [identity_pb2.CustomFieldValue(**a) for a in values.get("custom_fields", ())]
    if values.get("settings") is not None:
        values["settings"] = identity_pb2.CustomerSettings(**values["settings"])
    if values.get("portal_access") is not None:
        values["portal_access"] = identity_pb2.PortalAccess(**values["portal_access"])
    return {k: v for k, v in values.items() if v is not None}


def _options(options: list[dict]) -> list[identity_pb2.CustomFieldOption]:
    return [
        identity_pb2.CustomFieldOption(
            value=o["value"], badge=identity_pb2.Badge(**o["badge"]) if o.get("badge") else None
        )
        for o in options
    ]
