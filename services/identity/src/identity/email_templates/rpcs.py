"""Email templates: staff list, customise and reset them. Proto ⇄ domain only."""

from __future__ import annotations

from identity.email_templates import service as email_templates
from identity.email_templates.protos import template_to_proto
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class EmailTemplateRpcs(Rpcs):
    async def ListEmailTemplates(self, request: identity_pb2.ListEmailTemplatesRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            templates = await email_templates.list_templates(s, principal=principal)
        return identity_pb2.ListEmailTemplatesResponse(templates=[template_to_proto(t) for t in templates])

    async def UpdateEmailTemplate(self, request: identity_pb2.UpdateEmailTemplateRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            t = await email_templates.update_template(
                s,
                principal=principal,
                name=request.name,
                language=request.language,
                subject=request.subject,
                body=request.body,
            )
        return identity_pb2.UpdateEmailTemplateResponse(template=template_to_proto(t))

    async def ResetEmailTemplate(self, request: identity_pb2.ResetEmailTemplateRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            t = await email_templates.reset_template(
                s, principal=principal, name=request.name, language=request.language
            )
        return identity_pb2.ResetEmailTemplateResponse(template=template_to_proto(t))
