"""Credential rules (SPEC A5, X8): who may see, change and reveal which credentials, and the access log.

Functions take the caller's session and never commit. The password is only ever handled here and in
`credentials.crypto`; nothing returned by these functions except `reveal` carries it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from assets.credentials.crypto import DecryptionError, Keyring, Sealed
from assets.credentials.models import Credential, CredentialAccess
from assets.events import publish
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import CREDENTIALS_VIEW_ALL, CREDENTIALS_VIEW_MINE
from servicekit.principal import Principal, Visibility, visibility

NAME_MAX = 200
USERNAME_MAX = 320
URL_MAX = 2000
NOTES_MAX = 5000
PASSWORD_MAX = 1000
ID_MAX = 36
IDEMPOTENCY_KEY_MAX = 200
PERSON_MAX = 200
NOT_FOUND = "no such credential"
NO_KEYS = "credentials are not available: no credential keys are configured (ASSETS_CREDENTIAL_KEYS)"


@dataclass(frozen=True)
class Fields:
    """The non-secret fields of a credential, as a create or update gives them."""

    customer_id: str = ""
    contact_id: str = ""
    document_id: str = ""
    name: str = ""
    username: str = ""
    url: str = ""
    notes: str = ""
    public: bool = False


@dataclass(frozen=True)
class CredentialPage:
    credentials: list[Credential]
    next_cursor: str


@dataclass(frozen=True)
class AccessPage:
    entries: list[CredentialAccess]
    next_cursor: str


@dataclass(frozen=True)
class Origin:
    """Where a reveal came from, as the gateway reports it."""

    client_address: str = ""
    user_agent: str = ""


def _require_staff(principal: Principal, action: str) -> None:
    if not principal.is_staff:
        raise PermissionDenied(f"only staff may {action}")


def _scope(principal: Principal) -> Visibility:
    """Staff see every credential; a portal user the public ones its permissions cover; links none."""
    if principal.is_link:
        raise PermissionDenied("a secure link does not open credentials")
    return visibility(principal, view_all=CREDENTIALS_VIEW_ALL, view_mine=CREDENTIALS_VIEW_MINE)


def _visible(principal: Principal, scope: Visibility, c: Credential) -> bool:
    if principal.is_staff:
        return True
    if scope.contact_id is not None and not (c.contact_id and c.contact_id == scope.contact_id):
        return False
    return c.public and scope.allows(c.customer_id, c.contact_id or "")


def _text(value: str, *, field: str, limit: int, one_line: bool = True, required: bool = False) -> str:
    if "\x00" in value:
        raise InvalidArgument(f"the {field} must not contain NUL characters", field=field)
    value = " ".join(value.split()) if one_line else value.strip()
    if required and not value:
        raise InvalidArgument(f"the {field} is required", field=field)
    if len(value) > limit:
        raise InvalidArgument(f"the {field} must be at most {limit} characters", field=field)
    return value


def _ref(value: str, *, field: str) -> str | None:
    value = value.strip()
    if len(value) > ID_MAX or any(not (ch.isalnum() or ch in "-_") for ch in value):
        raise InvalidArgument(f"the {field} is not an id", field=field)
    return value or None


def _password(value: str) -> str:
    if "\x00" in value:
        raise InvalidArgument("the password must not contain NUL characters", field="password")
    if len(value) > PASSWORD_MAX:
        raise InvalidArgument(f"the password must be at most {PASSWORD_MAX} characters", field="password")
    return value


def _keys(keyring: Keyring | None) -> Keyring:
    if keyring is None:
        raise FailedPrecondition(NO_KEYS)
    return keyring


def _apply(c: Credential, fields: Fields) -> None:
    c.contact_id = _ref(fields.contact_id, field="contact_id")
    c.document_id = _ref(fields.document_id, field="document_id")
    c.name = _text(fields.name, field="name", limit=NAME_MAX, required=True)
    c.username = _text(fields.username, field="username", limit=USERNAME_MAX)
    c.url = _text(fields.url, field="url", limit=URL_MAX)
    c.notes = _text(fields.notes, field="notes", limit=NOTES_MAX, one_line=False)
    c.public = fields.public


def _seal(c: Credential, keyring: Keyring, password: str) -> None:
    sealed = keyring.seal(c.id, password)
    c.key_id, c.wrapped_key, c.nonce, c.ciphertext = sealed.key_id, sealed.wrapped_key, sealed.nonce, sealed.ciphertext


async def create_credential(
    session: AsyncSession,
    *,
    principal: Principal,
    keyring: Keyring | None,
    fields: Fields,
    password: str,
    idempotency_key: str = "",
) -> Credential:
    """A new credential (staff), or the one this idempotency key already made."""
    _require_staff(principal, "create credentials")
    customer_id = _ref(fields.customer_id, field="customer_id")
    if customer_id is None:
        raise InvalidArgument("the customer_id is required", field="customer_id")
    key = _text(idempotency_key, field="idempotency_key", limit=IDEMPOTENCY_KEY_MAX) or None
    keyring = _keys(keyring)
    password = _password(password)
    if key and (done := await _by_idempotency_key(session, customer_id, principal.subject_id, key)):
        return done
    now = datetime.now(UTC)
    c = Credential(
        id=str(uuid.uuid4()),
        customer_id=customer_id,
        created_by=principal.subject_id,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
    _apply(c, fields)
    _seal(c, keyring, password)
    try:
        async with session.begin_nested():
            session.add(c)
    except IntegrityError:
        if key and (done := await _by_idempotency_key(session, customer_id, principal.subject_id, key)):
            return done
        raise
    return c


async def _by_idempotency_key(session: AsyncSession, customer_id: str, created_by: str, key: str) -> Credential | None:
    return await session.scalar(
        sa.select(Credential).where(
            Credential.customer_id == customer_id,
            Credential.created_by == created_by,
            Credential.idempotency_key == key,
        )
    )


async def _get(session: AsyncSession, principal: Principal, credential_id: str) -> Credential:
    scope = _scope(principal)
    cid = _ref(credential_id, field="credential_id")
    c = await session.get(Credential, cid) if cid else None
    if c is None or not _visible(principal, scope, c):
        raise NotFound(NOT_FOUND)
    return c


async def update_credential(
    session: AsyncSession,
    *,
    principal: Principal,
    keyring: Keyring | None,
    credential_id: str,
    fields: Fields,
    password: str | None,
) -> Credential:
    """Replace a credential's fields (staff); a given password is sealed under a new data key and nonce."""
    _require_staff(principal, "change credentials")
    c = await _get(session, principal, credential_id)
    _apply(c, fields)
    if password is not None:
        _seal(c, _keys(keyring), _password(password))
    c.updated_at = datetime.now(UTC)
    return c


async def delete_credential(session: AsyncSession, *, principal: Principal, credential_id: str) -> None:
    """Delete a credential (staff); its reveals stay in the access log."""
    _require_staff(principal, "delete credentials")
    await session.delete(await _get(session, principal, credential_id))


async def get_credential(session: AsyncSession, *, principal: Principal, credential_id: str) -> Credential:
    """One credential the principal may see (NOT_FOUND otherwise)."""
    return await _get(session, principal, credential_id)


async def list_credentials(
    session: AsyncSession,
    *,
    principal: Principal,
    page_size: int,
    cursor: str = "",
    customer_id: str = "",
    contact_id: str = "",
    document_id: str = "",
) -> CredentialPage:
    """The credentials the principal may see, by (name, id), one keyset page."""
    scope = _scope(principal)
    query = sa.select(Credential)
    if scope.customer_ids is not None:
        query = query.where(Credential.customer_id.in_(scope.customer_ids))
    if scope.contact_id is not None:
        # "Mine" without a contact of one's own sees nothing: the customer's own credentials are not "mine".
        query = query.where(Credential.contact_id == (scope.contact_id or None), Credential.contact_id.is_not(None))
    if not principal.is_staff:
        query = query.where(Credential.public.is_(True))
    for column, value, name in (
        (Credential.customer_id, customer_id, "customer_id"),
        (Credential.contact_id, contact_id, "contact_id"),
        (Credential.document_id, document_id, "document_id"),
    ):
        if ref := _ref(value, field=name):
            query = query.where(column == ref)
    if (after := keyset(cursor, key=str)) is not None:
        query = query.where(sa.tuple_(Credential.name, Credential.id) > sa.tuple_(*after))
    rows = list((await session.scalars(query.order_by(Credential.name, Credential.id).limit(page_size + 1))).all())
    page, more = rows[:page_size], len(rows) > page_size
    return CredentialPage(page, keyset_cursor(page[-1].name, page[-1].id) if more else "")


async def reveal(
    session: AsyncSession,
    *,
    principal: Principal,
    keyring: Keyring | None,
    credential_id: str,
    origin: Origin,
) -> tuple[str, CredentialAccess]:
    """The password of a credential the principal may see, with the access-log entry recorded for it."""
    c = await _get(session, principal, credential_id)
    sealed = Sealed(c.key_id, c.wrapped_key, c.nonce, c.ciphertext)
    try:
        password = _keys(keyring).open(c.id, sealed)
    except DecryptionError as exc:
        raise FailedPrecondition(f"this credential cannot be decrypted: {exc}") from None
    entry = CredentialAccess(
        id=str(uuid.uuid4()),
        credential_id=c.id,
        credential_name=c.name,
        customer_id=c.customer_id,
        principal_kind=principal.kind,
        principal_id=principal.subject_id[:64],
        principal_name=(principal.display_name or principal.email or principal.subject_id)[:320],
        client_address=_printable(origin.client_address, 64),
        user_agent=_printable(origin.user_agent, 300),
        revealed_at=datetime.now(UTC),
    )
    session.add(entry)
    await publish.credential_revealed(session, entry)
    return password, entry


def _printable(value: str, limit: int) -> str:
    return "".join(ch for ch in value if ch.isprintable())[:limit]


async def list_access(
    session: AsyncSession,
    *,
    principal: Principal,
    page_size: int,
    cursor: str = "",
    credential_id: str = "",
    customer_id: str = "",
    person: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> AccessPage:
    """Reveals newest first: of one credential the principal may see, or (staff) the Credential Access Report."""
    query = sa.select(CredentialAccess)
    if credential_id:
        c = await _get(session, principal, credential_id)
        query = query.where(CredentialAccess.credential_id == c.id)
    else:
        _require_staff(principal, "read the Credential Access Report")
        if ref := _ref(customer_id, field="customer_id"):
            query = query.where(CredentialAccess.customer_id == ref)
        if who := _text(person, field="person", limit=PERSON_MAX):
            query = query.where(
                sa.or_(
                    CredentialAccess.principal_id == who,
                    sa.func.lower(CredentialAccess.principal_name).contains(who.lower(), autoescape=True),
                )
            )
        if since is not None:
            query = query.where(CredentialAccess.revealed_at >= since)
        if until is not None:
            query = query.where(CredentialAccess.revealed_at < until)
    if (after := keyset(cursor)) is not None:
        query = query.where(sa.tuple_(CredentialAccess.revealed_at, CredentialAccess.id) < sa.tuple_(*after))
    query = query.order_by(CredentialAccess.revealed_at.desc(), CredentialAccess.id.desc()).limit(page_size + 1)
    rows = list((await session.scalars(query)).all())
    page, more = rows[:page_size], len(rows) > page_size
    return AccessPage(page, keyset_cursor(page[-1].revealed_at, page[-1].id) if more else "")


@dataclass(frozen=True)
class Rotation:
    rewrapped: int
    failed: list[str]


async def rotate_keys(session: AsyncSession, *, keyring: Keyring, batch: int = 500) -> Rotation:
    """Re-wrap every data key not under the current master key with it; the ciphertexts are not touched.

    Credentials whose key does not unwrap are left as they are and named in `failed` (by id only)."""
    rewrapped, failed = 0, []
    last = ""
    while True:
        rows = (
            await session.scalars(
                sa.select(Credential)
                .where(Credential.key_id != keyring.current, Credential.id > last)
                .order_by(Credential.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            return Rotation(rewrapped, failed)
        for c in rows:
            last = c.id
            try:
                c.wrapped_key = keyring.rewrap(c.id, c.key_id, c.wrapped_key)
            except DecryptionError:
                failed.append(c.id)
                continue
            c.key_id = keyring.current
            rewrapped += 1
        await session.flush()
