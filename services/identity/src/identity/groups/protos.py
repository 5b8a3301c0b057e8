"""Permission groups as the proto carries them."""

from __future__ import annotations

from identity.groups.models import PermissionGroup
from portal.identity.v1 import identity_pb2


def group_to_proto(g: PermissionGroup, members: int = 0) -> identity_pb2.PermissionGroup:
    return identity_pb2.PermissionGroup(
        id=g.id, name=g.name, permissions=sorted(g.permissions), built_in=g.built_in, member_count=members
    )
