"""Customers and contacts complete (SPEC C1-C4, C6) on SQLite and PostgreSQL: names, unique primary email, typed
phones and addresses, every C3 setting, custom fields with badges, parent organisations, portal access, and the
"All" scope covering subsidiaries."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from identity.contacts.service import create_contact, list_contacts, update_contact
from identity.custom_fields import service as custom_fields
from identity.customers import service as customers
from identity.customers.models import Customer
from identity.customers.protos import customer_to_proto
from identity.customers.service import Details, PortalAccess
from identity.events.publish import CONTACTS_CHANGED, CUSTOMER_DELETED
from identity.portal_controls.support_window import set_support_window
from identity.sessions.models import AUDIENCE_PORTAL
from identity.sessions.service import SessionPolicy, resolve_session, sign_in
from identity.users import service as users
from identity.users.models import PortalUser
from portal.identity.v1 import events_pb2
from servicekit.db import Database
from servicekit.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from servicekit.outbox_tables import outbox
from servicekit.permissions import NON_PORTAL_USER_GROUP, TICKETS_VIEW_ALL
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal, visibility

STAFF = Principal(kind=KIND_STAFF, subject_id="staff-under-test")

SETTINGS = {
    "tax_rate_bp": 825,
    "tax_free": False,
    "invoice_terms_days": 14,
    "remote_access_enabled": True,
    "sms_enabled": True,
    "receive_billing_emails": True,
    "receive_marketing_emails": False,
    "receive_report_emails": True,
    "no_email": False,
    "notification_emails": ["ops@acme.test", "OPS@acme.test", "it@acme.test"],
    "invoice_cc_emails": ["books@acme.test"],
    "ticket_matching_emails": ["alerts@acme.test"],
    "internal_ticket_warning": "Call before visiting: alarm code at reception.",
}


async def make(db: Database, email: str, *, name: str = "", details: Details | None = None, **names: str) -> Customer:
    async with db.unit_of_work() as s:
        return await customers.create_customer(
            s,
            principal=STAFF,
            business_name=name,
            first_name=names.get("first_name", ""),
            last_name=names.get("last_name", ""),
            email=email,
            details=details,
        )


async def update(db: Database, customer: Customer, **changes) -> Customer:  # noqa: ANN003
    fields = {
        "business_name": customer.business_name,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
    }
    details = changes.pop("details", Details(parent_id=customer.parent_id or ""))
    fields.update(changes)
    async with db.unit_of_work() as s:
        return await customers.update_customer(s, principal=STAFF, customer_id=customer.id, details=details, **fields)


async def test_a_customer_keeps_every_detail_and_setting(db: Database) -> None:
    details = Details(
        notes="Prefers mornings.",
        phones=[{"type": "work", "number": "+1 555 0100"}, {"type": "Mobile", "number": "555-0199"}],
        addresses=[
            {"type": "billing", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345"},
            {"type": "physical", "line1": "Unit 4, Dock Rd", "country": "US"},
        ],
        settings=SETTINGS,
    )
    c = await make(db, "office@acme.test", name="Acme Dental", first_name="Ann", last_name="Lee", details=details)
    async with db.unit_of_work() as s:
        stored = await customers.get_customer(s, principal=STAFF, customer_id=c.id)
        assert stored.display_name == "Acme Dental", "the business name wins"
        assert stored.phones == [{"type": "work", "number": "+1 555 0100"}, {"type": "mobile", "number": "555-0199"}]
        assert [a["type"] for a in stored.addresses] == ["billing", "physical"]
        assert stored.addresses[0]["city"] == "Springfield" and stored.addresses[1]["line2"] == ""
        settings = customers.settings_of(stored)
    assert settings == {**SETTINGS, "notification_emails": ["ops@acme.test", "it@acme.test"]}


async def test_defaults_are_the_default_rate_and_terms_and_every_email_on(db: Database) -> None:
    c = await make(db, "bea@blue.test", first_name="Bea", last_name="Blue")
    assert c.display_name == "Bea Blue"
    assert (c.tax_rate_bp, c.invoice_terms_days, c.tax_free, c.no_email) == (None, None, False, False)
    assert (c.receive_billing_emails, c.receive_marketing_emails, c.receive_report_emails) == (True, True, True)


@pytest.mark.parametrize(
    ("details", "field"),
    [
        (Details(phones=[{"type": "pager", "number": "1"}]), "phones"),
        (Details(phones=[{"type": "work", "number": "call me"}]), "phones"),
        (Details(addresses=[{"type": "moon"}]), "addresses"),
        (Details(addresses=[{"type": "billing"}]), "addresses"),
        (Details(settings={"tax_rate_bp": 10_001}), "tax_rate_bp"),
        (Details(settings={"invoice_terms_days": -1}), "invoice_terms_days"),
        (Details(settings={"invoice_cc_emails": ["not an email"]}), "invoice_cc_emails"),
        (Details(settings={"internal_ticket_warning": "x" * 1001}), "internal_ticket_warning"),
    ],
)
async def test_bad_details_are_refused_naming_the_field(db: Database, details: Details, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        await make(db, "x@example.test", name="X", details=details)
    assert err.value.field == field


async def test_the_primary_email_stays_unique_among_customers_on_update(db: Database) -> None:
    await make(db, "office@acme.test", name="Acme")
    blue = await make(db, "bea@blue.test", name="Blue")
    with pytest.raises(AlreadyExists) as err:
        await update(db, blue, email="Office@ACME.test")
    assert err.value.field == "email"
    # Its own email in another case is fine, and so is a contact with a customer's email (SPEC C2).
    changed = await update(db, blue, email="BEA@blue.test", business_name="Blue Plumbing")
    assert (changed.email, changed.display_name) == ("BEA@blue.test", "Blue Plumbing")
    async with db.unit_of_work() as s:
        await create_contact(s, principal=STAFF, customer_id=blue.id, name="Ann", email="office@acme.test")


async def test_update_without_settings_keeps_them(db: Database) -> None:
    c = await make(db, "office@acme.test", name="Acme", details=Details(settings=SETTINGS))
    changed = await update(db, c, details=Details(notes="new"))
    assert customers.settings_of(changed)["tax_rate_bp"] == 825 and changed.notes == "new"
    cleared = await update(db, c, details=Details(settings={"no_email": True}))
    assert cleared.no_email and cleared.tax_rate_bp is None and cleared.receive_billing_emails


async def test_contacts_are_listed_and_changed(db: Database) -> None:
    c = await make(db, "office@acme.test", name="Acme")
    other_customer = await make(db, "office@other.test", name="Other")
    async with db.unit_of_work() as s:
        a = await create_contact(s, principal=STAFF, customer_id=c.id, name="Ann", email="", phone="555", title="CFO")
        await create_contact(s, principal=STAFF, customer_id=c.id, name="Bob", email="bob@acme.test")
        changed = await update_contact(
            s, principal=STAFF, contact_id=a.id, name="Ann Lee", email="Ann@acme.test", phone="555-1", title="CEO"
        )
        assert (changed.email_key, changed.title) == ("ann@acme.test", "CEO")
        assert [x.name for x in await list_contacts(s, principal=STAFF, customer_id=c.id)] == ["Ann Lee", "Bob"]
        with pytest.raises(NotFound):
            await list_contacts(s, principal=STAFF, customer_id="nope")
        with pytest.raises(PermissionDenied):
            await list_contacts(s, principal=Principal(kind=KIND_PORTAL_USER, subject_id="u"), customer_id=c.id)
        # A View All user lists its own customer's contacts (the new-ticket form's picker); another's is not found,
        # and a secure link — scoped to one ticket or site — lists none.
        other = await create_contact(s, principal=STAFF, customer_id=other_customer.id, name="Zed", email="")
        view_all = Principal(
            kind=KIND_PORTAL_USER, subject_id="u", customer_id=c.id, permissions=frozenset({TICKETS_VIEW_ALL})
        )
        assert [x.name for x in await list_contacts(s, principal=view_all, customer_id="")] == ["Ann Lee", "Bob"]
        with pytest.raises(NotFound):
            await list_contacts(s, principal=view_all, customer_id=other.customer_id)
        linked = Principal(
            kind=KIND_PORTAL_USER, subject_id="l", customer_id=c.id, permissions=frozenset({TICKETS_VIEW_ALL}),
            link_site_id="site-1",
        )  # fmt: skip
        with pytest.raises(PermissionDenied):
            await list_contacts(s, principal=linked, customer_id=c.id)


async def _contact_events(db: Database) -> list[tuple[str, str, str]]:
    """(meta.customer_id, customer_id, contact_id) of every ContactsChanged in the outbox, oldest first."""
    async with db.unit_of_work() as s:
        rows = (await s.scalars(sa.select(outbox.c.payload).where(outbox.c.subject == CONTACTS_CHANGED))).all()
    events = [events_pb2.ContactsChanged.FromString(p) for p in rows]
    return [(e.meta.customer_id, e.customer_id, e.contact_id) for e in events]


async def test_every_contact_write_publishes_contacts_changed(db: Database) -> None:
    """The gateways cache a customer's contact list (issue 16) and hear of a change only through ContactsChanged,
    written in the change's own transaction: create, change, support window; a replay or a refusal writes none."""
    c = await make(db, "office@acme.test", name="Acme")
    async with db.unit_of_work() as s:
        ann = await create_contact(s, principal=STAFF, customer_id=c.id, name="Ann", email="", idempotency_key="k-1")
    async with db.unit_of_work() as s:
        again = await create_contact(s, principal=STAFF, customer_id=c.id, name="Ann", email="", idempotency_key="k-1")
    assert again.id == ann.id
    assert await _contact_events(db) == [(c.id, c.id, ann.id)]
    async with db.unit_of_work() as s:
        await update_contact(s, principal=STAFF, contact_id=ann.id, name="Ann Lee", email="", phone="", title="")
    async with db.unit_of_work() as s:
        await set_support_window(s, principal=STAFF, contact_id=ann.id, start="2026-01-01", end="2026-12-31")
    assert await _contact_events(db) == [(c.id, c.id, ann.id)] * 3
    # Refused writes roll back with their event.
    with pytest.raises(NotFound):
        async with db.unit_of_work() as s:
            await update_contact(s, principal=STAFF, contact_id="nope", name="X", email="", phone="", title="")
    with pytest.raises(InvalidArgument):
        async with db.unit_of_work() as s:
            await update_contact(s, principal=STAFF, contact_id=ann.id, name=" ", email="", phone="", title="")
    with pytest.raises(PermissionDenied):
        async with db.unit_of_work() as s:
            await create_contact(s, principal=Principal(kind=KIND_PORTAL_USER, subject_id="u"), customer_id=c.id,
                                 name="Eve", email="")  # fmt: skip
    assert len(await _contact_events(db)) == 3
    # Contacts deleted with their customer: CustomerDeleted carries the customer, which moves the same caches.
    async with db.unit_of_work() as s:
        await customers.delete_customer(s, principal=STAFF, customer_id=c.id)
        deleted = (await s.scalars(sa.select(outbox.c.payload).where(outbox.c.subject == CUSTOMER_DELETED))).all()
    assert [events_pb2.CustomerDeleted.FromString(p).meta.customer_id for p in deleted] == [c.id]


async def test_custom_fields_with_badges(db: Database) -> None:
    async with db.unit_of_work() as s:
        kind = await custom_fields.create_field(
            s,
            principal=STAFF,
            name="Customer type",
            field_type="dropdown",
            options=[
                {"value": "Residential", "badge_label": "RES", "badge_color": "#2a7"},
                {"value": "Business", "badge_label": "BIZ", "badge_color": "navy"},
                {"value": "Other"},
            ],
        )
        note = await custom_fields.create_field(s, principal=STAFF, name="Gate code", field_type="text", options=[])
        with pytest.raises(AlreadyExists):
            await custom_fields.create_field(s, principal=STAFF, name="customer TYPE", field_type="text", options=[])
        with pytest.raises(InvalidArgument):
            await custom_fields.create_field(s, principal=STAFF, name="Empty", field_type="dropdown", options=[])
        with pytest.raises(InvalidArgument):
            await custom_fields.create_field(
                s, principal=STAFF, name="Bad", field_type="dropdown", options=[{"value": "A", "badge_label": "A"}]
            )
        with pytest.raises(PermissionDenied):
            await custom_fields.list_fields(s, principal=Principal(kind=KIND_PORTAL_USER, subject_id="u"))
    c = await make(
        db, "office@acme.test", name="Acme", details=Details(custom_fields={kind.id: "Business", note.id: "1234"})
    )
    with pytest.raises(InvalidArgument):
        await update(db, c, details=Details(custom_fields={kind.id: "Alien"}))
    async with db.unit_of_work() as s:
        answers = (await custom_fields.answers_of(s, [c.id]))[c.id]
    assert [(a.field_name, a.value, a.badge) for a in answers] == [
        ("Customer type", "Business", custom_fields.Badge("BIZ", "navy")),
        ("Gate code", "1234", None),
    ]
    async with db.unit_of_work() as s:
        # "Business" is no longer offered: the answer goes; deleting a field removes its answers.
        await custom_fields.update_field(
            s, principal=STAFF, field_id=kind.id, name="Kind", options=[{"value": "Residential"}]
        )
        await custom_fields.delete_field(s, principal=STAFF, field_id=note.id)
        assert (await custom_fields.answers_of(s, [c.id]))[c.id] == []
        assert [f.name for f in await custom_fields.list_fields(s, principal=STAFF)] == ["Kind"]


async def test_parent_organisations_refuse_cycles(db: Database) -> None:
    parent = await make(db, "hq@group.test", name="Group HQ")
    child = await make(db, "east@group.test", name="Group East", details=Details(parent_id=parent.id))
    grandchild = await make(db, "shop@group.test", name="East Shop", details=Details(parent_id=child.id))
    other = await make(db, "solo@solo.test", name="Solo")
    with pytest.raises(InvalidArgument):
        await update(db, parent, details=Details(parent_id=grandchild.id))
    with pytest.raises(InvalidArgument):
        await update(db, parent, details=Details(parent_id=parent.id))
    with pytest.raises(NotFound):
        await update(db, other, details=Details(parent_id="no-such-customer"))
    async with db.unit_of_work() as s:
        assert set(await customers.family(s, parent.id)) == {parent.id, child.id, grandchild.id}
        assert await customers.family(s, child.id) == (child.id, grandchild.id)
        assert [c.id for c in await customers.subsidiaries(s, parent.id)] == [child.id]
        rows, _ = await customers.list_customers(s, principal=STAFF, parent_id=child.id)
        assert [c.id for c in rows] == [grandchild.id]
    # Moving the grandchild under the solo customer takes it out of the group.
    await update(db, grandchild, details=Details(parent_id=other.id))
    async with db.unit_of_work() as s:
        assert set(await customers.family(s, parent.id)) == {parent.id, child.id}


async def test_all_scope_covers_subsidiaries_and_mine_does_not(db: Database, world, passwords) -> None:
    """Alice (customer A) sees A's and its subsidiary's records with View All; Mine stays A's own."""
    sub = await make(db, "branch@acme.test", name="Acme Branch", details=Details(parent_id=world.customer_a))
    opened = await sign_in(
        db, login="alice@acme.test", password=passwords["alice"], audience=AUDIENCE_PORTAL, policy=SessionPolicy()
    )
    assert set(opened.principal.customer_ids) == {world.customer_a, sub.id}
    vis = visibility(opened.principal, view_all=TICKETS_VIEW_ALL, view_mine="")
    assert vis.allows(sub.id, "") and not vis.allows(world.customer_b, "")
    async with db.unit_of_work() as s:
        # The parent's user reads the subsidiary's record, but not its privacy settings.
        assert (await customers.get_customer(s, principal=opened.principal, customer_id=sub.id)).id == sub.id
        with pytest.raises(NotFound):
            await customers.privacy_customer(s, principal=opened.principal, customer_id=sub.id)


async def test_portal_access_creates_disables_and_re_enables_the_customers_own_user(db: Database) -> None:
    c = await make(db, "office@acme.test", name="Acme")
    async with db.unit_of_work() as s:
        created = await customers.set_portal_access(
            s,
            principal=STAFF,
            customer=c,
            access=PortalAccess(enabled=True, group_name=NON_PORTAL_USER_GROUP, require_mfa=True),
        )
        assert created is not None and created.login == "office@acme.test" and created.password_hash is None
        access, _ = await customers.portal_access(s, c)
    assert access == PortalAccess(enabled=True, group_name=NON_PORTAL_USER_GROUP, require_mfa=True)
    async with db.unit_of_work() as s:
        assert await customers.set_portal_access(s, principal=STAFF, customer=c, access=PortalAccess(False)) is None
        assert (await customers.portal_access(s, c))[0].enabled is False
        assert await s.scalar(sa.select(sa.func.count()).select_from(PortalUser)) >= 1
        again = await customers.set_portal_access(
            s, principal=STAFF, customer=c, access=PortalAccess(enabled=True, require_mfa=False)
        )
        assert again is None, "re-enabling keeps the same user"
        access, _ = await customers.portal_access(s, c)
    assert access.enabled and not access.require_mfa and access.group_name == "Admin Portal Group"


async def test_a_disabled_portal_user_cannot_sign_in_and_its_sessions_end(db: Database, world, passwords) -> None:
    policy = SessionPolicy()
    opened = await sign_in(db, login="bob.blue", password=passwords["bob"], audience=AUDIENCE_PORTAL, policy=policy)
    async with db.unit_of_work() as s:
        customer = await s.get(Customer, world.customer_b)
        await customers.set_portal_access(s, principal=STAFF, customer=customer, access=PortalAccess(False))
    async with db.unit_of_work() as s:
        with pytest.raises(Unauthenticated):
            await resolve_session(s, token=opened.token, policy=policy)
    with pytest.raises(PermissionDenied):
        await sign_in(db, login="bob.blue", password=passwords["bob"], audience=AUDIENCE_PORTAL, policy=policy)


async def test_identity_refuses_to_delete_a_parent_and_deletes_everything_of_a_customer(db: Database, world) -> None:
    sub = await make(db, "branch@acme.test", name="Acme Branch", details=Details(parent_id=world.customer_a))
    async with db.unit_of_work() as s:
        assert await customers.local_holders(s, world.customer_a) == [("subsidiaries", 1)]
        with pytest.raises(Exception, match="subsidiaries"):
            await customers.delete_customer(s, principal=STAFF, customer_id=world.customer_a)
    async with db.unit_of_work() as s:
        with pytest.raises(PermissionDenied):
            portal = Principal(kind=KIND_PORTAL_USER, subject_id=world.alice, customer_id=world.customer_a)
            await customers.delete_customer(s, principal=portal, customer_id=sub.id)
    async with db.unit_of_work() as s:
        await customers.delete_customer(s, principal=STAFF, customer_id=sub.id)
        await customers.delete_customer(s, principal=STAFF, customer_id=world.customer_a)
    async with db.unit_of_work() as s:
        assert await s.get(Customer, world.customer_a) is None
        left = (await s.scalars(sa.select(PortalUser.customer_id))).all()
        assert world.customer_a not in left and world.customer_b in left
        with pytest.raises(NotFound):
            await customers.delete_customer(s, principal=STAFF, customer_id=world.customer_a)


async def test_staff_search_customers_by_name_and_email_with_literal_wildcards(db: Database) -> None:
    acme = await make(db, "office@acme-dental.test", name="Acme Dental")
    await make(db, "ops@blue-harbor.test", name="Blue Harbor Logistics")
    person = await make(db, "jo_smith@home.test", first_name="Jo", last_name="Smith")

    async def found(text: str) -> list[str]:
        async with db.unit_of_work() as s:
            rows, _ = await customers.list_customers(s, principal=STAFF, query_text=text)
        return [c.id for c in rows]

    assert await found("acme") == [acme.id]
    assert await found("DENTAL acme") == [acme.id], "every word, any case"
    assert await found("smith") == [person.id] and await found("home.test") == [person.id]
    assert await found("jo_s") == [person.id] and await found("o_s") == [person.id]
    assert await found("%") == [] and await found("j_") == [], "wildcards are literal"
    assert len(await found("")) == 3
    with pytest.raises(InvalidArgument):
        await found("x" * 201)
    async with db.unit_of_work() as s:
        with pytest.raises(PermissionDenied):
            await customers.list_customers(
                s, principal=Principal(kind=KIND_PORTAL_USER, subject_id="u"), query_text="a"
            )


async def test_staff_list_a_customers_portal_users_with_group_and_mfa(db: Database) -> None:
    acme = await make(db, "office@acme-list.test", name="Acme List")
    other = await make(db, "office@other-list.test", name="Other List")
    async with db.unit_of_work() as s:
        await users.create_portal_user(
            s, principal=STAFF, customer_id=acme.id, contact_id="", login="", email="a1@acme-list.test", password=""
        )
        await users.create_portal_user(
            s,
            principal=STAFF,
            customer_id=acme.id,
            contact_id="",
            login="",
            email="a2@acme-list.test",
            password="a-long-enough-password",
            group_name=NON_PORTAL_USER_GROUP,
            require_mfa=True,
        )
        await users.create_portal_user(
            s, principal=STAFF, customer_id=other.id, contact_id="", login="", email="o@other-list.test", password=""
        )
    async with db.unit_of_work() as s:
        rows = await users.list_portal_users(s, principal=STAFF, customer_id=acme.id)
    assert [(u.email, g.name, u.require_mfa, u.password_hash is None, mfa) for u, g, mfa in rows] == [
        ("a1@acme-list.test", "Admin Portal Group", False, True, False),
        ("a2@acme-list.test", NON_PORTAL_USER_GROUP, True, False, False),
    ]
    async with db.unit_of_work() as s:
        with pytest.raises(NotFound):
            await users.list_portal_users(s, principal=STAFF, customer_id="no-such")
        with pytest.raises(PermissionDenied):
            await users.list_portal_users(
                s, principal=Principal(kind=KIND_PORTAL_USER, subject_id="u", customer_id=acme.id), customer_id=acme.id
            )


async def test_a_portal_user_reads_only_the_remote_access_setting(db: Database) -> None:
    """The portal's Remote action (SPEC R1) follows C3's "remote access enabled"; every other setting and the notes
    stay staff's."""
    c = await make(db, "office@acme.test", name="Acme", details=Details(settings=SETTINGS, notes="staff only"))
    async with db.unit_of_work() as s:
        stored = await s.get(Customer, c.id)
        assert stored is not None
        portal, staff = customer_to_proto(stored, staff=False), customer_to_proto(stored, staff=True)
    assert portal.settings.remote_access_enabled and portal.notes == ""
    assert portal.settings.ListFields() == [(portal.settings.DESCRIPTOR.fields_by_name["remote_access_enabled"], True)]
    assert (
        staff.settings.remote_access_enabled
        and staff.settings.internal_ticket_warning == SETTINGS["internal_ticket_warning"]
    )
