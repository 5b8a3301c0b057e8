"""SPEC H5: the signed-in user's language and a customer's default. Proto ⇄ domain only."""

from __future__ import annotations

from identity.languages import service as languages
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class LanguageRpcs(Rpcs):
    async def SetMyLanguage(self, request: identity_pb2.SetMyLanguageRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            language = await languages.set_my_language(s, principal=principal, language=request.language)
        return identity_pb2.SetMyLanguageResponse(language=language)

    async def SetCustomerLanguage(self, request: identity_pb2.SetCustomerLanguageRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            language = await languages.set_customer_language(
                s, principal=principal, customer_id=request.customer_id, language=request.language
            )
        return identity_pb2.SetCustomerLanguageResponse(language=language)
