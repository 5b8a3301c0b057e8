"""Email templates as the proto carries them."""

from __future__ import annotations

from identity.email_templates import service as email_templates
from portal.identity.v1 import identity_pb2


def template_to_proto(t: email_templates.Template) -> identity_pb2.EmailTemplate:
    return identity_pb2.EmailTemplate(
        name=t.name,
        language=t.language,
        subject=t.subject,
        body=t.body,
        customised=t.customised,
        placeholders=list(t.placeholders),
    )
