"""Custom fields as the proto carries them."""

from __future__ import annotations

from identity.custom_fields.models import CustomField
from portal.identity.v1 import identity_pb2


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
