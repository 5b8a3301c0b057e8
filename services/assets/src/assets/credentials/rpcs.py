"""portal.assets.v1.CredentialsService: proto ⇄ domain; the rules live in `credentials.service`."""

from __future__ import annotations

from datetime import UTC as _UTC

import grpc

from assets.credentials import service as credentials
from assets.credentials.crypto import Keyring
from assets.credentials.models import Credential, CredentialAccess
from portal.assets.v1 import credentials_pb2, credentials_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit.db import Database
from servicekit.origin import origin_from_metadata
from servicekit.pagination import page_size
from servicekit.principal import Principal, current_principal
from servicekit.protos import timestamp


class CredentialsServicer(credentials_pb2_grpc.CredentialsServiceServicer):
    def __init__(self, db: Database, keyring: Keyring | None) -> None:
        self.db = db
        self.keyring = keyring

    async def CreateCredential(
        self, request: credentials_pb2.CreateCredentialRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.CreateCredentialResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            c = await credentials.create_credential(
                s,
                principal=principal,
                keyring=self.keyring,
                fields=_fields(request.fields),
                password=request.password,
                idempotency_key=request.idempotency_key,
            )
            out = _credential(c)
        return credentials_pb2.CreateCredentialResponse(credential=out)

    async def UpdateCredential(
        self, request: credentials_pb2.UpdateCredentialRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.UpdateCredentialResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            c = await credentials.update_credential(
                s,
                principal=principal,
                keyring=self.keyring,
                credential_id=request.credential_id,
                fields=_fields(request.fields),
                password=request.password if request.HasField("password") else None,
            )
            out = _credential(c)
        return credentials_pb2.UpdateCredentialResponse(credential=out)

    async def DeleteCredential(
        self, request: credentials_pb2.DeleteCredentialRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.DeleteCredentialResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await credentials.delete_credential(s, principal=principal, credential_id=request.credential_id)
        return credentials_pb2.DeleteCredentialResponse()

    async def ListCredentials(
        self, request: credentials_pb2.ListCredentialsRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.ListCredentialsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await credentials.list_credentials(
                s,
                principal=principal,
                page_size=size,
                cursor=request.page.cursor,
                customer_id=request.customer_id,
                contact_id=request.contact_id,
                document_id=request.document_id,
            )
            out = [_credential(c) for c in page.credentials]
        return credentials_pb2.ListCredentialsResponse(
            credentials=out, page=common_pb2.PageResponse(next_cursor=page.next_cursor)
        )

    async def GetCredential(
        self, request: credentials_pb2.GetCredentialRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.GetCredentialResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            c = await credentials.get_credential(s, principal=principal, credential_id=request.credential_id)
            out = _credential(c)
        return credentials_pb2.GetCredentialResponse(credential=out)

    async def RevealCredential(
        self, request: credentials_pb2.RevealCredentialRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.RevealCredentialResponse:
        principal = current_principal()
        origin = origin_from_metadata(context.invocation_metadata())
        async with self.db.unit_of_work() as s:
            password, entry = await credentials.reveal(
                s,
                principal=principal,
                keyring=self.keyring,
                credential_id=request.credential_id,
                origin=credentials.Origin(client_address=origin.client_address, user_agent=origin.user_agent),
            )
            out = _access(entry, principal)
        return credentials_pb2.RevealCredentialResponse(password=password, access=out)

    async def ListCredentialAccess(
        self, request: credentials_pb2.ListCredentialAccessRequest, context: grpc.aio.ServicerContext
    ) -> credentials_pb2.ListCredentialAccessResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await credentials.list_access(
                s,
                principal=principal,
                page_size=size,
                cursor=request.page.cursor,
                credential_id=request.credential_id,
                customer_id=request.customer_id,
                person=request.person,
                since=request.since.ToDatetime(tzinfo=_UTC) if request.HasField("since") else None,
                until=request.until.ToDatetime(tzinfo=_UTC) if request.HasField("until") else None,
            )
            out = [_access(e, principal) for e in page.entries]
        return credentials_pb2.ListCredentialAccessResponse(
            entries=out, page=common_pb2.PageResponse(next_cursor=page.next_cursor)
        )


def _fields(f: credentials_pb2.CredentialFields) -> credentials.Fields:
    return credentials.Fields(
        customer_id=f.customer_id,
        contact_id=f.contact_id,
        document_id=f.document_id,
        name=f.name,
        username=f.username,
        url=f.url,
        notes=f.notes,
        public=f.public,
    )


def _credential(c: Credential) -> credentials_pb2.Credential:
    return credentials_pb2.Credential(
        id=c.id,
        customer_id=c.customer_id,
        contact_id=c.contact_id or "",
        document_id=c.document_id or "",
        name=c.name,
        username=c.username,
        url=c.url,
        notes=c.notes,
        public=c.public,
        has_password=bool(c.ciphertext),
        created_at=timestamp(c.created_at),
        updated_at=timestamp(c.updated_at),
    )


def _access(e: CredentialAccess, viewer: Principal) -> credentials_pb2.CredentialAccess:
    # Where a reveal came from is for staff: a customer sees who and when.
    staff = viewer.is_staff
    return credentials_pb2.CredentialAccess(
        id=e.id,
        credential_id=e.credential_id,
        credential_name=e.credential_name,
        customer_id=e.customer_id,
        principal_kind=Principal(kind=e.principal_kind, subject_id=e.principal_id).to_proto().kind,
        principal_id=e.principal_id,
        principal_name=e.principal_name,
        client_address=e.client_address if staff else "",
        user_agent=e.user_agent if staff else "",
        revealed_at=timestamp(e.revealed_at),
    )
