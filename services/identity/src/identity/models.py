"""Every identity model, imported so that Base.metadata holds all tables (for Alembic and the schema test)."""

from identity.audit.models import AuditEntry
from identity.contacts.models import Contact
from identity.custom_fields.models import CustomField, CustomFieldValue
from identity.customers.models import Customer
from identity.db import Base
from identity.email_templates.models import EmailTemplate
from identity.groups.models import PermissionGroup
from identity.idempotency import IdempotencyKey
from identity.mail.models import OutboundEmail
from identity.mfa.models import MfaFactor, RecoveryCode
from identity.passwords.models import PasswordToken
from identity.push.models import OutboundPush, PushPreference, PushSubscription
from identity.secure_links.models import SecureLink
from identity.sessions.models import UserSession
from identity.settings.models import PortalSetting
from identity.users.models import PortalUser, StaffUser

__all__ = [
    "AuditEntry",
    "Base",
    "Contact",
    "CustomField",
    "CustomFieldValue",
    "Customer",
    "EmailTemplate",
    "IdempotencyKey",
    "MfaFactor",
    "OutboundEmail",
    "OutboundPush",
    "PasswordToken",
    "PermissionGroup",
    "PortalSetting",
    "PortalUser",
    "PushPreference",
    "PushSubscription",
    "RecoveryCode",
    "SecureLink",
    "StaffUser",
    "UserSession",
]
