"""CredentialsService (the assets service's masked credentials, SPEC A5): list, read, write, reveal, access log.

Only `reveal` returns a password, as a plain str for the one answer that shows it; the Credential schema has no
field for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import Page, opt_datetime
from portal.assets.v1 import credentials_pb2, credentials_pb2_grpc
from portal.common.v1 import common_pb2

_KINDS = {
    common_pb2.PRINCIPAL_KIND_PORTAL_USER: "portal_user",
    common_pb2.PRINCIPAL_KIND_STAFF: "staff",
    common_pb2.PRINCIPAL_KIND_SERVICE: "service",
    common_pb2.PRINCIPAL_KIND_SECURE_LINK: "secure_link",
}


class Credential(BaseModel):
    """A masked credential: everything but its password."""

    id: str
    customer_id: str
    contact_id: str = Field(description="Empty when it is the customer's rather than one contact's")
    document_id: str = Field(description="The document it belongs to, if any")
    name: str
    username: str
    url: str = Field(description="Host name or URL")
    notes: str
    public: bool = Field(description="Shown on the customer portal; private ones are staff only")
    has_password: bool
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_proto(cls, c: credentials_pb2.Credential) -> Credential:
        return cls.model_construct(
            id=c.id,
            customer_id=c.customer_id,
            contact_id=c.contact_id,
            document_id=c.document_id,
            name=c.name,
            username=c.username,
            url=c.url,
            notes=c.notes,
            public=c.public,
            has_password=c.has_password,
            created_at=opt_datetime(c, "created_at"),
            updated_at=opt_datetime(c, "updated_at"),
        )


class CredentialAccess(BaseModel):
    """One reveal of a credential's password."""

    id: str
    credential_id: str
    credential_name: str
    customer_id: str
    principal_kind: str = Field(description="portal_user or staff")
    principal_id: str
    principal_name: str
    client_address: str = Field(description="Staff answers only")
    user_agent: str = Field(description="Staff answers only")
    revealed_at: datetime | None

    @classmethod
    def from_proto(cls, e: credentials_pb2.CredentialAccess) -> CredentialAccess:
        return cls.model_construct(
            id=e.id,
            credential_id=e.credential_id,
            credential_name=e.credential_name,
            customer_id=e.customer_id,
            principal_kind=_KINDS.get(e.principal_kind, ""),
            principal_id=e.principal_id,
            principal_name=e.principal_name,
            client_address=e.client_address,
            user_agent=e.user_agent,
            revealed_at=opt_datetime(e, "revealed_at"),
        )


@dataclass(frozen=True)
class CredentialInput:
    """What staff set on a credential (the password apart)."""

    customer_id: str = ""
    contact_id: str = ""
    document_id: str = ""
    name: str = ""
    username: str = ""
    url: str = ""
    notes: str = ""
    public: bool = False

    def to_proto(self) -> credentials_pb2.CredentialFields:
        return credentials_pb2.CredentialFields(
            customer_id=self.customer_id,
            contact_id=self.contact_id,
            document_id=self.document_id,
            name=self.name,
            username=self.username,
            url=self.url,
            notes=self.notes,
            public=self.public,
        )


@dataclass(frozen=True)
class Revealed:
    password: str
    access: CredentialAccess


def _ts(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


class CredentialsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = credentials_pb2_grpc.CredentialsServiceStub(channel)
        self._call = Caller("assets", timeout)

    @cached("assets")
    async def list(
        self,
        token: str,
        *,
        page_size: int = 0,
        cursor: str = "",
        customer_id: str = "",
        contact_id: str = "",
        document_id: str = "",
    ) -> Page[Credential]:
        req = credentials_pb2.ListCredentialsRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor),
            customer_id=customer_id,
            contact_id=contact_id,
            document_id=document_id,
        )
        resp = await self._call(self._stub.ListCredentials, req, token)
        return Page(
            items=[Credential.from_proto(c) for c in resp.credentials], next_cursor=resp.page.next_cursor or None
        )

    async def get(self, token: str, credential_id: str) -> Credential:
        req = credentials_pb2.GetCredentialRequest(credential_id=credential_id)
        return Credential.from_proto((await self._call(self._stub.GetCredential, req, token)).credential)

    async def reveal(self, token: str, credential_id: str) -> Revealed:
        req = credentials_pb2.RevealCredentialRequest(credential_id=credential_id)
        resp = await self._call(self._stub.RevealCredential, req, token)
        return Revealed(password=resp.password, access=CredentialAccess.from_proto(resp.access))

    async def create(
        self, token: str, fields: CredentialInput, *, password: str, idempotency_key: str = ""
    ) -> Credential:
        req = credentials_pb2.CreateCredentialRequest(
            fields=fields.to_proto(), password=password, idempotency_key=idempotency_key
        )
        return Credential.from_proto((await self._call(self._stub.CreateCredential, req, token)).credential)

    async def update(
        self, token: str, credential_id: str, fields: CredentialInput, *, password: str | None = None
    ) -> Credential:
        req = credentials_pb2.UpdateCredentialRequest(credential_id=credential_id, fields=fields.to_proto())
        if password is not None:
            req.password = password
        return Credential.from_proto((await self._call(self._stub.UpdateCredential, req, token)).credential)

    async def delete(self, token: str, credential_id: str) -> None:
        req = credentials_pb2.DeleteCredentialRequest(credential_id=credential_id)
        await self._call(self._stub.DeleteCredential, req, token)

    async def access(
        self,
        token: str,
        *,
        credential_id: str = "",
        customer_id: str = "",
        person: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 0,
        cursor: str = "",
    ) -> Page[CredentialAccess]:
        """One credential's reveals, or (staff, without credential_id) the Credential Access Report; newest first."""
        req = credentials_pb2.ListCredentialAccessRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor),
            credential_id=credential_id,
            customer_id=customer_id,
            person=person,
            since=_ts(since),
            until=_ts(until),
        )
        resp = await self._call(self._stub.ListCredentialAccess, req, token)
        return Page(
            items=[CredentialAccess.from_proto(e) for e in resp.entries], next_cursor=resp.page.next_cursor or None
        )
