"""The data layer and the customer, contact and user service functions, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from identity.contacts.service import create_contact
from identity.customers.models import Customer
from identity.customers.service import create_customer, get_customer, list_customers
from identity.events.publish import CUSTOMER_CREATED, CUSTOMER_UPDATED
from identity.groups.models import PermissionGroup
from identity.models import Base
from identity.users.models import PortalUser, StaffUser
from identity.users.service import create_portal_user, ensure_bootstrap_staff
from portal.identity.v1 import events_pb2
from servicekit.db import Database
from servicekit.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from servicekit.outbox_tables import outbox
from servicekit.permissions import ADMIN_PORTAL_GROUP, BUILT_IN_GROUPS, NON_PORTAL_USER_GROUP
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

STAFF = Principal(kind=KIND_STAFF, subject_id="staff-under-test")


def _kit_table(diff: tuple) -> bool:
    """Differences about the kit's outbox and inbox, which are not on identity's metadata."""
    obj = diff[1]
    table = obj if isinstance(obj, sa.Table) else getattr(obj, "table", None)
    return table is not None and table.name in ("outbox", "inbox")


async def test_migrations_match_the_models(db: Database) -> None:
    def diff(conn: sa.Connection) -> list:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, Base.metadata) if not _kit_table(d)]

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_built_in_groups_are_seeded(db: Database) -> None:
    async with db.unit_of_work() as s:
        groups = {g.name: g for g in (await s.scalars(sa.select(PermissionGroup))).all()}
    assert set(groups) == set(BUILT_IN_GROUPS)
    for name, perms in BUILT_IN_GROUPS.items():
        assert set(groups[name].permissions) == perms
        assert groups[name].built_in


async def create(db: Database, **fields: str) -> Customer:
    values = {"business_name": "", "first_name": "", "last_name": "", "email": "x@example.test", **fields}
    async with db.unit_of_work() as s:
        return await create_customer(s, principal=STAFF, **values)


async def test_create_customer_publishes_customer_created_through_the_outbox(db: Database) -> None:
    customer = await create(db, business_name="  Acme Dental ", first_name="Ann", email="Office@Acme.test")
    assert customer.display_name == "Acme Dental"
    assert customer.email == "Office@Acme.test"
    assert customer.created_at.tzinfo is not None
    async with db.unit_of_work() as s:
        rows = (await s.execute(sa.select(outbox.c.subject, outbox.c.payload))).all()
    # CustomerCreated, then the whole state (settings included) as every later change publishes it.
    assert [r.subject for r in rows] == [CUSTOMER_CREATED, CUSTOMER_UPDATED]
    event = events_pb2.CustomerCreated.FromString(rows[0].payload)
    assert (event.customer_id, event.display_name, event.meta.customer_id) == (customer.id, "Acme Dental", customer.id)
    assert event.meta.event_id
    state = events_pb2.CustomerUpdated.FromString(rows[1].payload)
    assert (state.customer_id, state.display_name, state.HasField("tax_rate_bp")) == (customer.id, "Acme Dental", False)


async def test_display_name_falls_back_to_first_and_last_name(db: Database) -> None:
    customer = await create(db, first_name="Bea", last_name="Blue")
    assert customer.display_name == "Bea Blue"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "a b@example.test"}, "email"),
        ({"first_name": "", "business_name": "  "}, "business_name"),
        ({"business_name": "x" * 201}, "business_name"),
    ],
)
async def test_create_customer_validates_with_field_names(db: Database, fields: dict, field: str) -> None:
    values = {"business_name": "Acme", **fields}
    with pytest.raises(InvalidArgument) as err:
        await create(db, **values)
    assert err.value.field == field


async def test_customer_email_is_unique_regardless_of_case(db: Database) -> None:
    await create(db, business_name="Acme", email="office@acme.test")
    with pytest.raises(AlreadyExists) as err:
        await create(db, business_name="Other", email=" OFFICE@acme.TEST ")
    assert err.value.field == "email"


async def test_the_same_idempotency_key_returns_the_first_customer(db: Database) -> None:
    first = await create(db, business_name="Acme", email="office@acme.test", idempotency_key="k1")
    again = await create(db, business_name="Acme", email="office@acme.test", idempotency_key="k1")
    assert again.id == first.id
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
        # One CustomerCreated and one CustomerUpdated: the replay published nothing.
        assert await s.scalar(sa.select(sa.func.count()).select_from(outbox)) == 2


async def test_only_staff_create_customers(db: Database, world) -> None:
    portal = Principal(kind=KIND_PORTAL_USER, subject_id=world.alice, customer_id=world.customer_a)
    async with db.unit_of_work() as s:
        with pytest.raises(PermissionDenied):
            await create_customer(
                s, principal=portal, business_name="X", first_name="", last_name="", email="x@example.test"
            )


async def test_a_portal_user_sees_only_its_own_customer(db: Database, world) -> None:
    alice = Principal(
        kind=KIND_PORTAL_USER, subject_id=world.alice, customer_id=world.customer_a, customer_ids=(world.customer_a,)
    )
    async with db.unit_of_work() as s:
        assert (await get_customer(s, principal=alice, customer_id=world.customer_a)).id == world.customer_a
        assert (await get_customer(s, principal=alice, customer_id="")).id == world.customer_a
        with pytest.raises(NotFound):
            await get_customer(s, principal=alice, customer_id=world.customer_b)
        assert (await get_customer(s, principal=STAFF, customer_id=world.customer_b)).display_name == "Bea Blue"
        with pytest.raises(NotFound):
            await get_customer(s, principal=STAFF, customer_id="no-such-id")


async def test_list_customers_pages_by_keyset(db: Database) -> None:
    created = [await create(db, business_name=f"C{i}", email=f"c{i}@example.test") for i in range(7)]
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        async with db.unit_of_work() as s:
            rows, cursor = await list_customers(s, principal=STAFF, size=3, cursor=cursor)
        seen += [c.id for c in rows]
        pages += 1
        if not cursor:
            break
    assert pages == 3
    assert seen == [c.id for c in sorted(created, key=lambda c: (c.created_at, c.id))]


# Not base64, not JSON, one value, not a date, and a time without its offset (ours always carry one).
@pytest.mark.parametrize(
    "cursor", ["%%%", "bm90IGpzb24", "WzFd", "WyJub3QgYSBkYXRlIiwieCJd", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwieCJd"]
)
async def test_a_malformed_cursor_is_invalid_argument(db: Database, cursor: str) -> None:
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument) as err:
            await list_customers(s, principal=STAFF, cursor=cursor)
    assert err.value.field == "cursor"


async def test_the_same_email_may_be_on_contacts_of_different_customers(db: Database, world) -> None:
    async with db.unit_of_work() as s:
        c = await create_contact(s, principal=STAFF, customer_id=world.customer_b, name="Al", email="ALICE@acme.test")
        again = await create_contact(
            s, principal=STAFF, customer_id=world.customer_b, name="Al", email="alice@acme.test", idempotency_key="k"
        )
        same = await create_contact(
            s, principal=STAFF, customer_id=world.customer_b, name="Al", email="alice@acme.test", idempotency_key="k"
        )
    assert c.customer_id == world.customer_b
    assert same.id == again.id != c.id


async def test_create_contact_checks_customer_name_and_email(db: Database, world) -> None:
    async with db.unit_of_work() as s:
        with pytest.raises(NotFound) as nf:
            await create_contact(s, principal=STAFF, customer_id="nope", name="X", email="")
        with pytest.raises(InvalidArgument) as no_name:
            await create_contact(s, principal=STAFF, customer_id=world.customer_a, name=" ", email="")
        with pytest.raises(InvalidArgument) as bad_email:
            await create_contact(s, principal=STAFF, customer_id=world.customer_a, name="X", email="nope")
        no_email = await create_contact(s, principal=STAFF, customer_id=world.customer_a, name="X", email="")
    assert (nf.value.field, no_name.value.field, bad_email.value.field) == ("customer_id", "name", "email")
    assert no_email.email == ""


async def portal_user(db: Database, world, **fields: str) -> tuple[PortalUser, PermissionGroup]:
    values = {
        "customer_id": world.customer_a,
        "contact_id": "",
        "login": "",
        "email": "someone@acme.test",
        "password": "a-long-enough-password",
        **fields,
    }
    async with db.unit_of_work() as s:
        return await create_portal_user(s, principal=STAFF, **values)


async def test_a_portal_user_gets_an_argon2id_hash_and_the_admin_group_by_default(db: Database, world) -> None:
    user, group = await portal_user(db, world, email="Carol@Acme.test")
    assert user.login == "Carol@Acme.test"
    assert user.login_key == "carol@acme.test"
    assert user.password_hash.startswith("$argon2id$")
    assert "a-long-enough-password" not in user.password_hash
    assert group.name == ADMIN_PORTAL_GROUP


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"email": "bad"}, InvalidArgument, "email"),
        ({"password": "short"}, InvalidArgument, "password"),
        ({"login": "a b"}, InvalidArgument, "login"),
        ({"login": "ALICE@acme.test"}, AlreadyExists, "login"),
        ({"group_name": "Nope"}, InvalidArgument, "group_name"),
        ({"customer_id": "nope"}, NotFound, "customer_id"),
        ({"contact_id": "nope"}, NotFound, "contact_id"),
    ],
)
async def test_create_portal_user_validates(db: Database, world, fields: dict, error: type, field: str) -> None:
    with pytest.raises(error) as err:
        await portal_user(db, world, **fields)
    assert err.value.field == field


async def test_a_contact_of_another_customer_is_refused(db: Database, world) -> None:
    with pytest.raises(NotFound):
        await portal_user(db, world, customer_id=world.customer_b, contact_id=world.contact_a)


async def test_a_username_login_and_a_group_by_name(db: Database, world) -> None:
    user, group = await portal_user(db, world, login="carol.c", group_name=NON_PORTAL_USER_GROUP)
    assert (user.login, group.name) == ("carol.c", NON_PORTAL_USER_GROUP)


async def test_the_bootstrap_staff_user_is_created_only_when_there_is_no_staff(db: Database) -> None:
    async with db.unit_of_work() as s:
        first = await ensure_bootstrap_staff(s, email="boss@example.test", password="boss-password-123")
    async with db.unit_of_work() as s:
        second = await ensure_bootstrap_staff(s, email="other@example.test", password="other-password-123")
        count = await s.scalar(sa.select(sa.func.count()).select_from(StaffUser))
    assert first is not None and first.login_key == "boss@example.test"
    assert second is None and count == 1
