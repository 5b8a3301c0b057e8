"""IdentityService over gRPC: the servicer is the areas' RPC mixins (`<area>/rpcs.py`, proto ⇄ domain only) put
together with the parts they share; the rules live in each area's service.py."""

from __future__ import annotations

import asyncio

from identity.audit.rpcs import AuditRpcs
from identity.contacts.rpcs import ContactRpcs
from identity.custom_fields.rpcs import CustomFieldRpcs
from identity.customers.holders import DataHolders
from identity.customers.rpcs import CustomerRpcs
from identity.email_templates.rpcs import EmailTemplateRpcs
from identity.groups.rpcs import GroupRpcs
from identity.languages.rpcs import LanguageRpcs
from identity.mfa.rpcs import MfaRpcs
from identity.passwords.rpcs import PasswordRpcs
from identity.portal_controls.rpcs import PortalControlsRpcs
from identity.push.rpcs import PushRpcs
from identity.push.sender import VapidKey
from identity.secrets import SecretBox
from identity.secure_links.rpcs import SecureLinkRpcs
from identity.sessions.rpcs import SessionRpcs
from identity.sessions.service import SessionPolicy
from identity.sessions.tokens import PrincipalTokens
from identity.settings.rpcs import PortalSettingsRpcs
from identity.staff.rpcs import StaffRpcs
from identity.users.rpcs import PortalUserRpcs
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from servicekit.db import Database

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
        "CheckStaffInvitation",
        "AcceptStaffInvitation",
    )
]


class IdentityServicer(
    SessionRpcs,
    SecureLinkRpcs,
    CustomerRpcs,
    ContactRpcs,
    CustomFieldRpcs,
    PortalUserRpcs,
    GroupRpcs,
    PasswordRpcs,
    MfaRpcs,
    PortalSettingsRpcs,
    PortalControlsRpcs,
    EmailTemplateRpcs,
    AuditRpcs,
    StaffRpcs,
    PushRpcs,
    LanguageRpcs,
    identity_pb2_grpc.IdentityServiceServicer,
):
    def __init__(
        self,
        db: Database,
        *,
        tokens: PrincipalTokens,
        policy: SessionPolicy,
        ready: asyncio.Event | None = None,
        portal_url: str = "http://127.0.0.1:8000",
        mfa_issuer: str = "Customer portal",
        holders: DataHolders | None = None,
        box: SecretBox | None = None,
        vapid: VapidKey | None = None,
        push_insecure_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.vapid = vapid
        self.push_insecure_hosts = push_insecure_hosts
        self.box = box
        self.mfa_issuer = mfa_issuer
        # Without it (in-process tests) identity asks no one and refuses a delete.
        self.holders = holders or DataHolders({}, tokens=tokens)
        self.db = db
        self.portal_url = portal_url
        self.tokens = tokens
        self.policy = policy
        self._ready = ready
