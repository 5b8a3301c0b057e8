"""Portal users as the proto carries them."""

from __future__ import annotations

from identity.groups.models import PermissionGroup
from identity.users.models import PortalUser
from portal.identity.v1 import identity_pb2


def portal_user_to_proto(user: PortalUser, group: PermissionGroup | None) -> identity_pb2.PortalUser:
    return identity_pb2.PortalUser(
        id=user.id,
        customer_id=user.customer_id,
        contact_id=user.contact_id or "",
        login=user.login,
        email=user.email,
        group_name=group.name if group else "",
        admin_override=user.admin_override,
    )
