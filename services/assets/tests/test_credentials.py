# ruff: noqa: S105, S106, S107 - the passwords here are the test data of masked credentials
"""Masked credentials (SPEC A5, X8) over a real gRPC socket: envelope encryption, reveal and its access log,
rotation of master keys, and who may see what. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from assets.config import Settings
from assets.credentials import service
from assets.credentials.crypto import KeyringError, load_keyring, new_key_entry, parse_keys
from assets.credentials.models import Credential, CredentialAccess
from assets.credentials.rotation import rotate_credential_keys
from assets.events.publish import CREDENTIAL_REVEALED
from assets.main import MIGRATIONS_DIR, NAME, wire
from portal.assets.v1 import credentials_pb2 as pb
from portal.assets.v1 import credentials_pb2_grpc, events_pb2
from portal.common.v1 import common_pb2
from portal_testkit.services import Keys, Principals, serve_wired
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.migrations import upgrade
from servicekit.origin import origin_metadata

A, B = "cust-a", "cust-b"
STAFF = Principals.staff()
TECH = Principals.technician()
ALL_A = Principals.portal(A, "ct-a1", permissions={perm.CREDENTIALS_VIEW_ALL}, display_name="Ann of A")
MINE_A = Principals.portal(A, "ct-a2", permissions={perm.CREDENTIALS_VIEW_MINE}, subject_id="mine-a")
ALL_B = Principals.portal(B, "ct-b1", permissions={perm.CREDENTIALS_VIEW_ALL})
NOTHING_A = Principals.portal(A, "ct-a1", permissions={perm.TICKETS_VIEW_ALL}, subject_id="nothing-a")

Call = Callable[..., object]


def settings_with(keys: Keys, tmp_path, entries: str) -> Settings:  # noqa: ANN001
    return Settings(
        principal_public_key_file=keys.write_public_key(tmp_path),
        credential_keys=SecretStr(entries),
        database_url="sqlite+aiosqlite://",  # unused: serve_wired is handed the test's database
        nats_url="nats://127.0.0.1:1",
    )


class Api:
    """The credentials stub with a principal per call."""

    def __init__(self, stub: credentials_pb2_grpc.CredentialsServiceStub, keys: Keys) -> None:
        self.stub, self.keys = stub, keys

    async def __call__(self, method: str, request: object, who, *, extra=()):  # noqa: ANN001, ANN204
        md = (*self.keys.metadata(who), *extra)
        return await getattr(self.stub, method)(request, metadata=md, timeout=10)

    async def create(self, customer_id: str = A, password: str = "s3cret!", **fields: object) -> pb.Credential:
        values: dict = {"customer_id": customer_id, "name": "Router admin", "public": True, **fields}
        req = pb.CreateCredentialRequest(fields=pb.CredentialFields(**values), password=password)
        return (await self("CreateCredential", req, STAFF)).credential

    async def code(self, method: str, request: object, who) -> grpc.StatusCode:  # noqa: ANN001
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await self(method, request, who)
        return err.value.code()


@pytest.fixture
def entries() -> str:
    return new_key_entry("k1")


@pytest.fixture
async def api(db: Database, keys: Keys, tmp_path, entries: str) -> AsyncIterator[Api]:  # noqa: ANN001
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings_with(keys, tmp_path, entries)) as s:
        yield Api(credentials_pb2_grpc.CredentialsServiceStub(s.channel), keys)


async def _rows(db: Database) -> list[Credential]:
    async with db.unit_of_work() as s:
        return list((await s.scalars(sa.select(Credential).order_by(Credential.created_at))).all())


async def test_the_password_is_stored_encrypted_and_only_reveal_returns_it(api: Api, db: Database):
    c = await api.create(password="correct horse battery staple", username="admin", url="https://router.example")
    assert c.has_password and c.username == "admin"
    got = (await api("GetCredential", pb.GetCredentialRequest(credential_id=c.id), ALL_A)).credential
    listed = (await api("ListCredentials", pb.ListCredentialsRequest(), ALL_A)).credentials
    for message in (c, got, *listed):
        assert b"correct horse" not in message.SerializeToString()
    [row] = await _rows(db)
    assert b"correct horse" not in row.ciphertext + row.wrapped_key + row.nonce
    assert row.key_id == "k1" and len(row.nonce) == 12

    origin = origin_metadata("203.0.113.7", "Probe/1.0 (test)")
    shown = await api("RevealCredential", pb.RevealCredentialRequest(credential_id=c.id), ALL_A, extra=origin)
    assert shown.password == "correct horse battery staple"
    assert shown.access.principal_name == "Ann of A" and shown.access.principal_id == ALL_A.subject_id
    async with db.unit_of_work() as s:
        [entry] = (await s.scalars(sa.select(CredentialAccess))).all()
        outbox = (await s.execute(sa.text("SELECT subject, payload FROM outbox"))).all()
    assert (entry.client_address, entry.user_agent) == ("203.0.113.7", "Probe/1.0 (test)")
    assert entry.principal_kind == "portal_user" and entry.customer_id == A
    [(subject, payload)] = outbox
    event = events_pb2.CredentialRevealed.FromString(payload)
    assert subject == CREDENTIAL_REVEALED and event.credential_id == c.id and event.access_id == entry.id
    assert b"correct horse" not in payload
    dump = await _dump(db)
    assert c.id in dump and "correct horse" not in dump and b"correct horse".hex() not in dump


async def _dump(db: Database) -> str:
    """Every row of every table, each column as text (bytes as hex): what a database dump would show."""

    def read(conn: sa.Connection) -> str:
        out = []
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):  # noqa: S608 - our own table names
                out.append(table + ": " + " | ".join(v.hex() if isinstance(v, bytes) else str(v) for v in row))
        return "\n".join(out)

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def test_equal_passwords_get_their_own_data_key_and_nonce(api: Api, db: Database):
    await api.create(password="same-password")
    await api.create(password="same-password")
    one, two = await _rows(db)
    assert one.nonce != two.nonce
    assert one.wrapped_key != two.wrapped_key
    assert one.ciphertext != two.ciphertext


async def test_a_ciphertext_moved_to_another_row_does_not_decrypt(api: Api, db: Database):
    first = await api.create(password="first")
    second = await api.create(password="second")
    async with db.unit_of_work() as s:
        one, two = await s.get(Credential, first.id), await s.get(Credential, second.id)
        two.wrapped_key, two.nonce, two.ciphertext = one.wrapped_key, one.nonce, one.ciphertext
    code = await api.code("RevealCredential", pb.RevealCredentialRequest(credential_id=second.id), STAFF)
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_rotation_rewraps_data_keys_so_the_old_key_can_be_removed(
    db: Database, db_url: str, keys: Keys, tmp_path, entries: str
):
    old = load_keyring(entries)
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings_with(keys, tmp_path, entries)) as s:
        api = Api(credentials_pb2_grpc.CredentialsServiceStub(s.channel), keys)
        made = {(await api.create(password=f"pw-{n}", name=f"cred {n}")).id: f"pw-{n}" for n in range(7)}
    before = {r.id: r.ciphertext for r in await _rows(db)}

    new_entry = new_key_entry("k2")
    both = parse_keys(f"{new_entry}\n{entries}")
    assert both.current == "k2" and old.current == "k1"
    assert await rotate_credential_keys(db_url, both) == 0
    rows = await _rows(db)
    assert {r.key_id for r in rows} == {"k2"}
    assert {r.id: r.ciphertext for r in rows} == before  # only the data keys were re-wrapped

    only_new = settings_with(keys, tmp_path, new_entry)
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=only_new) as s:
        api = Api(credentials_pb2_grpc.CredentialsServiceStub(s.channel), keys)
        for cid, password in made.items():
            shown = await api("RevealCredential", pb.RevealCredentialRequest(credential_id=cid), STAFF)
            assert shown.password == password


async def test_a_wrong_or_missing_master_key_is_refused(db: Database, keys: Keys, tmp_path, entries: str):
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings_with(keys, tmp_path, entries)) as s:
        c = await Api(credentials_pb2_grpc.CredentialsServiceStub(s.channel), keys).create(password="pw")
    for other in (new_key_entry("k1"), new_key_entry("k9")):  # same id with other bytes; an unknown id
        async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings_with(keys, tmp_path, other)) as s:
            api = Api(credentials_pb2_grpc.CredentialsServiceStub(s.channel), keys)
            code = await api.code("RevealCredential", pb.RevealCredentialRequest(credential_id=c.id), STAFF)
            assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await rotate_credential_keys(
            str(db.engine.url.render_as_string(hide_password=False)), parse_keys(new_key_entry("k3"))
        )
        == 1
    )


@pytest.mark.parametrize(
    "text",
    ["", "k1", "k1:not*base64", "k1:" + "QUJD", "bad id!:" + new_key_entry("x").split(":")[1], "k1:{0} k1:{0}"],
    ids=["empty", "no-key", "not-base64", "short", "bad-id", "twice"],
)
def test_malformed_keys_are_refused_without_echoing_them(text: str):
    text = text.format(new_key_entry("x").split(":")[1])
    with pytest.raises(KeyringError) as err:
        parse_keys(text)
    secret = text.partition(":")[2]
    assert not secret or secret not in str(err.value)


async def test_without_keys_credentials_answer_failed_precondition(db: Database, keys: Keys):
    async with serve_wired(wire, db, keys.verifier, name=NAME) as s:
        api = Api(credentials_pb2_grpc.CredentialsServiceStub(s.channel), keys)
        req = pb.CreateCredentialRequest(fields=pb.CredentialFields(customer_id=A, name="x"), password="pw")
        assert await api.code("CreateCredential", req, STAFF) == grpc.StatusCode.FAILED_PRECONDITION


async def test_who_sees_and_reveals_which_credentials(api: Api):
    public_a = await api.create(name="A public")
    private_a = await api.create(name="A private", public=False)
    mine_a = await api.create(name="A contact 2", contact_id="ct-a2")
    public_b = await api.create(B, name="B public")

    async def names(who) -> list[str]:  # noqa: ANN001
        return [c.name for c in (await api("ListCredentials", pb.ListCredentialsRequest(), who)).credentials]

    assert await names(STAFF) == ["A contact 2", "A private", "A public", "B public"]
    assert await names(ALL_A) == ["A contact 2", "A public"]
    assert await names(MINE_A) == ["A contact 2"]
    assert await names(ALL_B) == ["B public"]

    def reveal(c):  # noqa: ANN001, ANN202
        return pb.RevealCredentialRequest(credential_id=c.id)

    for who, cred in ((ALL_A, private_a), (ALL_A, public_b), (MINE_A, public_a), (ALL_B, public_a)):
        assert await api.code("RevealCredential", reveal(cred), who) == grpc.StatusCode.NOT_FOUND
        get = pb.GetCredentialRequest(credential_id=cred.id)
        assert await api.code("GetCredential", get, who) == grpc.StatusCode.NOT_FOUND
        log = pb.ListCredentialAccessRequest(credential_id=cred.id)
        assert await api.code("ListCredentialAccess", log, who) == grpc.StatusCode.NOT_FOUND
    assert (await api("RevealCredential", reveal(mine_a), MINE_A)).password == "s3cret!"
    assert (await api("RevealCredential", reveal(private_a), TECH)).password == "s3cret!"
    assert (
        await api.code("ListCredentials", pb.ListCredentialsRequest(), NOTHING_A) == grpc.StatusCode.PERMISSION_DENIED
    )
    assert await api.code("RevealCredential", reveal(public_a), NOTHING_A) == grpc.StatusCode.PERMISSION_DENIED

    # Customers never write, delete or read the report.
    create = pb.CreateCredentialRequest(fields=pb.CredentialFields(customer_id=A, name="x"), password="pw")
    update = pb.UpdateCredentialRequest(credential_id=public_a.id, fields=pb.CredentialFields(name="y"))
    for method, req in (
        ("CreateCredential", create),
        ("UpdateCredential", update),
        ("DeleteCredential", pb.DeleteCredentialRequest(credential_id=public_a.id)),
        ("ListCredentialAccess", pb.ListCredentialAccessRequest()),
    ):
        assert await api.code(method, req, ALL_A) == grpc.StatusCode.PERMISSION_DENIED


async def test_the_access_log_per_credential_and_the_report(api: Api):
    a = await api.create(name="A")
    b = await api.create(B, name="B")
    await api("RevealCredential", pb.RevealCredentialRequest(credential_id=a.id), ALL_A)
    await api(
        "RevealCredential", pb.RevealCredentialRequest(credential_id=a.id), TECH, extra=origin_metadata("10.0.0.9", "X")
    )
    await api("RevealCredential", pb.RevealCredentialRequest(credential_id=b.id), ALL_B)

    own = (await api("ListCredentialAccess", pb.ListCredentialAccessRequest(credential_id=a.id), ALL_A)).entries
    assert [e.principal_id for e in own] == [TECH.subject_id, ALL_A.subject_id]  # newest first, staff included
    assert all(not e.client_address and not e.user_agent for e in own)  # where from is for staff

    report = (await api("ListCredentialAccess", pb.ListCredentialAccessRequest(), STAFF)).entries
    assert len(report) == 3 and report[1].client_address == "10.0.0.9"
    by_customer = await api("ListCredentialAccess", pb.ListCredentialAccessRequest(customer_id=B), STAFF)
    assert [e.credential_name for e in by_customer.entries] == ["B"]
    by_person = await api("ListCredentialAccess", pb.ListCredentialAccessRequest(person="ann of"), STAFF)
    assert [e.principal_id for e in by_person.entries] == [ALL_A.subject_id]

    page1 = await api(
        "ListCredentialAccess", pb.ListCredentialAccessRequest(page=common_pb2.PageRequest(page_size=2)), STAFF
    )
    page2 = await api(
        "ListCredentialAccess",
        pb.ListCredentialAccessRequest(page=common_pb2.PageRequest(page_size=2, cursor=page1.page.next_cursor)),
        STAFF,
    )
    assert [e.id for e in [*page1.entries, *page2.entries]] == [e.id for e in report] and not page2.page.next_cursor

    # Deleting the credential keeps its reveals in the report.
    await api("DeleteCredential", pb.DeleteCredentialRequest(credential_id=a.id), STAFF)
    after = (await api("ListCredentialAccess", pb.ListCredentialAccessRequest(customer_id=A), STAFF)).entries
    assert [e.credential_name for e in after] == ["A", "A"]


async def test_create_is_idempotent_and_update_replaces_the_password_only_when_given(api: Api, db: Database):
    fields = pb.CredentialFields(customer_id=A, name="Wifi", public=True)
    req = pb.CreateCredentialRequest(fields=fields, password="one", idempotency_key="key-1")
    first = (await api("CreateCredential", req, STAFF)).credential
    again = (await api("CreateCredential", req, STAFF)).credential
    assert first.id == again.id and len(await _rows(db)) == 1

    [before] = await _rows(db)
    renamed = pb.UpdateCredentialRequest(credential_id=first.id, fields=pb.CredentialFields(name="Wifi 2", public=True))
    assert (await api("UpdateCredential", renamed, STAFF)).credential.name == "Wifi 2"
    [kept] = await _rows(db)
    assert kept.ciphertext == before.ciphertext
    new_pw = pb.UpdateCredentialRequest(
        credential_id=first.id, fields=pb.CredentialFields(name="Wifi 2"), password="two"
    )
    await api("UpdateCredential", new_pw, STAFF)
    [changed] = await _rows(db)
    assert changed.nonce != before.nonce and changed.wrapped_key != before.wrapped_key
    shown = await api("RevealCredential", pb.RevealCredentialRequest(credential_id=first.id), STAFF)
    assert shown.password == "two"


@pytest.mark.parametrize(
    ("fields", "password", "field"),
    [
        ({"name": ""}, "pw", "name"),
        ({"name": "x" * (service.NAME_MAX + 1)}, "pw", "name"),
        ({"customer_id": ""}, "pw", "customer_id"),
        ({"contact_id": "not an id!"}, "pw", "contact_id"),
        ({"notes": "a\x00b"}, "pw", "notes"),
        ({}, "p" * (service.PASSWORD_MAX + 1), "password"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(api: Api, fields: dict, password: str, field: str):
    values = {"customer_id": A, "name": "ok", **fields}
    req = pb.CreateCredentialRequest(fields=pb.CredentialFields(**values), password=password)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api("CreateCredential", req, STAFF)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


def test_the_rotate_command_runs_as_a_process(tmp_path, keys: Keys):  # noqa: ANN001
    """`python -m assets rotate-credential-keys` with the service's own environment re-wraps and exits 0."""

    db_file = tmp_path / "assets.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    old, new = new_key_entry("k1"), new_key_entry("k2")

    async def make() -> str:
        await upgrade(MIGRATIONS_DIR, url)
        database = Database(url)
        async with database.unit_of_work() as s:
            c = await service.create_credential(
                s,
                principal=STAFF,
                keyring=parse_keys(old),
                fields=service.Fields(customer_id=A, name="x"),
                password="pw",
            )
        await database.dispose()
        return c.id

    credential_id = asyncio.run(make())
    env = {
        **os.environ,
        "ASSETS_DATABASE_URL": url,
        "ASSETS_PRINCIPAL_PUBLIC_KEY_FILE": str(keys.write_public_key(tmp_path)),
        "ASSETS_CREDENTIAL_KEYS": f"{new},{old}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "assets", "rotate-credential-keys"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert new.split(":")[1] not in done.stdout + done.stderr and old.split(":")[1] not in done.stdout + done.stderr
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT key_id FROM credentials WHERE id = ?", (credential_id,)).fetchone() == ("k2",)
