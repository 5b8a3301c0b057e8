import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from servicekit import permissions as perm
from servicekit.errors import PermissionDenied, Unauthenticated
from servicekit.principal import (
    KIND_PORTAL_USER,
    KIND_STAFF,
    Principal,
    TokenSigner,
    TokenVerifier,
    load_public_keys,
    visibility,
)

ALICE = Principal(
    kind=KIND_PORTAL_USER,
    subject_id="u1",
    customer_id="c1",
    contact_id="k1",
    permissions=frozenset({perm.TICKETS_VIEW_MINE, perm.TICKETS_CREATE}),
    customer_ids=("c1", "c1-sub"),
    display_name="Alice",
    email="alice@example.test",
    session_id="s1",
)


def test_token_round_trip_keeps_every_field():
    key = Ed25519PrivateKey.generate()
    token, expires = TokenSigner(key, ttl_seconds=60).sign(ALICE)
    assert expires > time.time()
    assert TokenVerifier([key.public_key()]).verify(token) == ALICE


def test_expired_token_is_refused():
    key = Ed25519PrivateKey.generate()
    token, _ = TokenSigner(key, ttl_seconds=1).sign(ALICE, now=time.time() - 120)
    with pytest.raises(Unauthenticated, match="expired"):
        TokenVerifier([key.public_key()]).verify(token)


def test_token_from_another_key_or_tampered_is_refused():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    token, _ = TokenSigner(other).sign(ALICE)
    with pytest.raises(Unauthenticated):
        TokenVerifier([key.public_key()]).verify(token)
    good, _ = TokenSigner(key).sign(ALICE)
    header, payload, sig = good.split(".")
    with pytest.raises(Unauthenticated):
        TokenVerifier([key.public_key()]).verify(f"{header}.{payload[:-2]}AA.{sig}")


def test_a_bundle_of_public_keys_accepts_old_and_new_during_rotation():
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pem = b"".join(k.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo) for k in (old, new))
    verifier = TokenVerifier(load_public_keys(pem))
    for k in (old, new):
        assert verifier.verify(TokenSigner(k).sign(ALICE)[0]).subject_id == "u1"


def test_visibility_mine_all_staff_and_neither():
    mine = visibility(ALICE, view_all=perm.TICKETS_VIEW_ALL, view_mine=perm.TICKETS_VIEW_MINE)
    assert (mine.customer_ids, mine.contact_id) == (("c1",), "k1")
    assert mine.allows("c1", "k1") and not mine.allows("c1", "k2") and not mine.allows("c2", "k1")

    all_ = visibility(
        Principal(**{**ALICE.__dict__, "permissions": frozenset({perm.TICKETS_VIEW_ALL})}),
        view_all=perm.TICKETS_VIEW_ALL,
        view_mine=perm.TICKETS_VIEW_MINE,
    )
    assert all_.customer_ids == ("c1", "c1-sub") and all_.contact_id is None

    staff = visibility(Principal(kind=KIND_STAFF, subject_id="s"), view_all="x", view_mine="y")
    assert staff.customer_ids is None and staff.allows("any", "one")

    with pytest.raises(PermissionDenied):
        visibility(ALICE, view_all=perm.INVOICES_VIEW_ALL, view_mine=perm.INVOICES_VIEW_MINE)


def test_a_secure_link_scope_survives_the_token_and_the_proto_and_other_tokens_keep_their_shape():
    import jwt

    from servicekit.principal import KIND_SECURE_LINK

    link = Principal(
        kind=KIND_SECURE_LINK,
        subject_id="link-1",
        customer_id="c1",
        customer_ids=("c1",),
        permissions=frozenset({perm.TICKETS_VIEW_ALL}),
        link_ticket_id="t1",
    )
    key = Ed25519PrivateKey.generate()
    token, _ = TokenSigner(key, ttl_seconds=60).sign(link)
    back = TokenVerifier([key.public_key()]).verify(token)
    assert back == link and back.is_link and not back.is_staff
    assert Principal.from_proto(link.to_proto()) == link
    # A token without the claims (every other principal, and tokens signed before them) verifies unchanged.
    alice_token, _ = TokenSigner(key, ttl_seconds=60).sign(ALICE)
    claims = jwt.decode(alice_token, options={"verify_signature": False})
    assert "lti" not in claims and "lsi" not in claims
    assert TokenVerifier([key.public_key()]).verify(alice_token).link_ticket_id == ""


def test_staff_role_travels_and_only_admin_is_admin():
    from servicekit.principal import KIND_SERVICE, ROLE_ADMIN, ROLE_TECHNICIAN, require_admin

    key = Ed25519PrivateKey.generate()
    signer, verifier = TokenSigner(key, ttl_seconds=60), TokenVerifier([key.public_key()])
    admin = Principal(kind=KIND_STAFF, subject_id="s1", staff_role=ROLE_ADMIN)
    tech = Principal(kind=KIND_STAFF, subject_id="s2", staff_role=ROLE_TECHNICIAN)
    back = verifier.verify(signer.sign(admin)[0])
    assert back == admin and back.is_admin
    assert Principal.from_proto(admin.to_proto()) == admin
    require_admin(admin)
    require_admin(Principal(kind=KIND_SERVICE, subject_id="identity"))
    # A technician, a staff token without a role (signed before roles existed), an unknown role and a portal user
    # are all refused.
    for who in (
        verifier.verify(signer.sign(tech)[0]),
        Principal(kind=KIND_STAFF, subject_id="s3"),
        Principal(kind=KIND_STAFF, subject_id="s4", staff_role="Admin"),
        ALICE,
        Principal(kind=KIND_PORTAL_USER, subject_id="u", staff_role=ROLE_ADMIN),
    ):
        assert not who.is_admin
        with pytest.raises(PermissionDenied, match="only an admin may manage staff"):
            require_admin(who, "manage staff")
