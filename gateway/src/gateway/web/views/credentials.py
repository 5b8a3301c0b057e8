"""Rows of the credential pages (portal and staff): never a password, which only the reveal answer puts on a page."""

from __future__ import annotations

from gateway.areas.credentials import MASK, link_of
from gateway.clients.credentials import Credential, CredentialAccess
from gateway.web.i18n import Translator


def credential_row(t: Translator, c: Credential, *, href: str) -> dict:
    return {
        "id": c.id,
        "href": href,
        "name": c.name,
        "username": c.username,
        "url": c.url,
        "url_href": link_of(c.url),
        "notes": c.notes,
        "public": c.public,
        "visibility": t("credentials.public") if c.public else t("credentials.private"),
        "contact_id": c.contact_id,
        "document_id": c.document_id,
        "mask": MASK if c.has_password else "—",
        "updated": t.datetime(c.updated_at),
    }


def access_row(t: Translator, e: CredentialAccess) -> dict:
    kind = t("credentials.kind.staff") if e.principal_kind == "staff" else t("credentials.kind.portal_user")
    return {
        "when": t.datetime(e.revealed_at),
        "who": e.principal_name or e.principal_id,
        "kind": kind,
        "credential": e.credential_name,
        "credential_id": e.credential_id,
        "customer_id": e.customer_id,
        "address": e.client_address,
        "agent": e.user_agent[:120],
    }
