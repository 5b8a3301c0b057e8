"""The staff console's customers (SPEC C1–C6, S2, issue 12): the list with search and badges (C4), and a customer's
page — details and every C3 setting, contacts, subsidiaries, its open tickets, a link to its billing tab — with
Archive / Re-enable (C5) and Delete, each after a confirmation page; Delete is offered only when no service holds
data for the customer (identity asks them; the staff API's data-holders check). Identity refuses all of it to a
principal that is not staff; these pages also answer a portal session with 403."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients import Backends
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.staff.credentials import customer_section as credentials_section
from gateway.web.staff.tickets import staff_status
from gateway.web.views import status_class

router = APIRouter(prefix="/staff", include_in_schema=False)

PAGE_SIZE = 25
OPEN_TICKETS = 10
_DONE = {
    "archived",
    "enabled",
    "user_added",
    "group_changed",
    "invited",
    "mfa_required",
    "mfa_not_required",
    "mfa_reset",
}


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def _badges(customer) -> list[dict]:  # noqa: ANN001 - portal.identity.v1.Customer
    return [{"label": b.label, "color": b.color} for b in customer.badges]


@router.get("/customers")
async def customers(request: Request, session: StaffPage) -> Response:
    pages = _pages(request)
    q = " ".join(request.query_params.get("q", "").split())[:200]
    cursor = request.query_params.get("cursor", "")[:512]
    resp = await _backends(request).identity.list_customer_records(
        session.principal_token, page_size=PAGE_SIZE, cursor=cursor, query=q
    )
    rows = [
        {"id": c.id, "name": c.display_name, "email": c.email, "archived": c.archived, "badges": _badges(c)}
        for c in resp.customers
    ]
    more = resp.page.next_cursor
    return pages.render(
        request,
        "staff/customers.html",
        {
            "rows": rows,
            "q": q,
            "more": f"/staff/customers?{urlencode({'q': q, 'cursor': more} if q else {'cursor': more})}"
            if more
            else "",
            "first": f"/staff/customers?{urlencode({'q': q})}"
            if cursor and q
            else ("/staff/customers" if cursor else ""),
            "done": pages.translator(request)("staff.customers.done.deleted")
            if request.query_params.get("done") == "deleted"
            else "",
        },
        session=session,
    )


async def _record(request: Request, session: Session, customer_id: str):  # noqa: ANN202
    try:
        return await _backends(request).identity.get_customer_record(session.principal_token, customer_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise


def _settings(t: Translator, s) -> list[tuple[str, str]]:  # noqa: ANN001 - portal.identity.v1.CustomerSettings
    yes, no = t("staff.customers.yes"), t("staff.customers.no")
    rate = (
        t("staff.customers.tax_free")
        if s.tax_free
        else (f"{s.tax_rate_bp / 100:.2f} %" if s.HasField("tax_rate_bp") else t("staff.customers.default"))
    )
    terms = (
        t("staff.customers.days", n=s.invoice_terms_days)
        if s.HasField("invoice_terms_days")
        else t("staff.customers.default")
    )
    return [
        (t("staff.customers.tax"), rate),
        (t("staff.customers.terms"), terms),
        (t("staff.customers.no_email"), yes if s.no_email else no),
        (t("staff.customers.billing_emails"), yes if s.receive_billing_emails else no),
        (t("staff.customers.report_emails"), yes if s.receive_report_emails else no),
        (t("staff.customers.marketing_emails"), yes if s.receive_marketing_emails else no),
        (t("staff.customers.notification_emails"), ", ".join(s.notification_emails) or "—"),
        (t("staff.customers.invoice_cc"), ", ".join(s.invoice_cc_emails) or "—"),
        (t("staff.customers.matching_emails"), ", ".join(s.ticket_matching_emails) or "—"),
        (t("staff.customers.remote_access"), yes if s.remote_access_enabled else no),
        (t("staff.customers.sms"), yes if s.sms_enabled else no),
    ]


@router.get("/customers/{customer_id}")
async def customer_page(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _customer_page(request, session, customer_id)


async def _customer_page(
    request: Request, session: Session, customer_id: str, *, error: str = "", status_code: int = 200
) -> Response:
    pages = _pages(request)
    record = await _record(request, session, customer_id)
    if record is None:
        return pages.error(request, NOT_FOUND, session=session)
    c = record.customer
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    contacts, tickets, users, groups = await asyncio.gather(
        backends.identity.list_contacts(token, c.id),
        backends.tickets.list_tickets(token, page_size=OPEN_TICKETS, open_only=True, customer_id=c.id, sort="oldest"),
        backends.identity.list_portal_users(token, c.id),
        backends.identity.list_permission_groups(token),
        return_exceptions=True,
    )
    for answer in (contacts, users, groups):
        if isinstance(answer, BaseException):
            raise answer
    contact_names = {ct.id: ct.name for ct in contacts}
    done = request.query_params.get("done", "")
    credentials = await credentials_section(request, session, c.id, contacts)
    return pages.render(
        request,
        "staff/customer.html",
        {
            "c": c,
            "badges": _badges(c),
            "settings": _settings(t, c.settings),
            "warning": c.settings.internal_ticket_warning,
            "addresses": [
                ", ".join(p for p in (a.line1, a.line2, a.postal_code, a.city, a.region, a.country) if p)
                for a in c.addresses
            ],
            "address_types": [t.label("staff.customers.address", a.type) for a in c.addresses],
            "phones": [(t.label("staff.customers.phone", p.type), p.number) for p in c.phones],
            "contacts": contacts,
            "portal_users": [
                {
                    "id": u.id,
                    "login": u.login,
                    "email": u.email,
                    "who": contact_names.get(u.contact_id, "") if u.contact_id else t("staff.customers.the_customer"),
                    "group": u.group_name,
                    "require_mfa": u.require_mfa,
                    "mfa_enabled": u.mfa_enabled,
                    "invited": u.invitation_pending,
                }
                for u in users
            ],
            "groups": [g.name for g in groups],
            "subsidiaries": list(record.subsidiaries),
            "tickets_unavailable": isinstance(tickets, BaseException),
            "tickets": []
            if isinstance(tickets, BaseException)
            else [
                {
                    "id": tk.id,
                    "number": tk.number,
                    "subject": tk.subject,
                    "status": staff_status(t, tk.status),
                    "status_class": status_class(tk.status),
                    "created": t.datetime(tk.created_at),
                }
                for tk in tickets.items
            ],
            "more_tickets": not isinstance(tickets, BaseException) and bool(tickets.next_cursor),
            "done": t(f"staff.customers.done.{done}") if done in _DONE else "",
            "error": error,
            "credentials": credentials,
        },
        session=session,
        status_code=status_code,
    )


@router.get("/customers/{customer_id}/archive")
async def archive_confirm(request: Request, customer_id: str, session: StaffPage) -> Response:
    """The confirmation before archiving (its portal users are signed out) or re-enabling."""
    pages = _pages(request)
    record = await _record(request, session, customer_id)
    if record is None:
        return pages.error(request, NOT_FOUND, session=session)
    return pages.render(request, "staff/customer_archive.html", {"c": record.customer}, session=session)


@router.post("/customers/{customer_id}/archive")
async def archive(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    archived = form.get("archived") == "1"
    try:
        await _backends(request).identity.set_customer_archived(
            session.principal_token, customer_id=customer_id, archived=archived
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    done = "archived" if archived else "enabled"
    return RedirectResponse(f"/staff/customers/{customer_id}?done={done}", status_code=303)


@router.get("/customers/{customer_id}/delete")
async def delete_confirm(request: Request, customer_id: str, session: StaffPage) -> Response:
    """Delete is offered only when no service holds the customer's data; otherwise the page says what does."""
    pages = _pages(request)
    record = await _record(request, session, customer_id)
    if record is None:
        return pages.error(request, NOT_FOUND, session=session)
    holders = await _backends(request).identity.customer_data_holders(session.principal_token, customer_id)
    return pages.render(
        request,
        "staff/customer_delete.html",
        {"c": record.customer, "holders": holders, "error": ""},
        session=session,
    )


@router.post("/customers/{customer_id}/delete")
async def delete(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    try:
        await _backends(request).identity.delete_customer(session.principal_token, customer_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        if err.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE):
            raise
        # Data appeared since the confirmation page, or a service cannot be asked: nothing was deleted.
        record = await _record(request, session, customer_id)
        holders = await _backends(request).identity.customer_data_holders(session.principal_token, customer_id)
        context = {"c": record.customer if record else None, "holders": holders, "error": err.details() or ""}
        return pages.render(request, "staff/customer_delete.html", context, session=session, status_code=409)
    return RedirectResponse("/staff/customers?done=deleted", status_code=303)


# --- portal users (SPEC P2, P4, P5), on the customer's page --------------------------------------------------------


def _back(customer_id: str, done: str) -> RedirectResponse:
    # The customer id comes from the form: quoted into our own path, never a URL of the client's choosing.
    return RedirectResponse(f"/staff/customers/{quote(customer_id, safe='')}?done={done}#portal-users", status_code=303)


async def _user_action(request: Request, session: Session, action, done: str) -> Response:  # noqa: ANN001
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    customer_id = field(form, "customer_id")[:64]
    try:
        done = await action(form) or done
    except grpc.aio.AioRpcError as err:
        if err.code() in (
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.ALREADY_EXISTS,
        ):
            message = split_field(err.details() or "")[1]
            return await _customer_page(request, session, customer_id, error=message, status_code=409)
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return pages.error(request, FORBIDDEN, session=session)
        raise
    return _back(customer_id, done)


@router.post("/customers/{customer_id}/portal-users")
async def add_portal_user(request: Request, customer_id: str, session: StaffPage) -> Response:
    """A portal user for the customer or one of its contacts, emailed an invitation to choose its password."""
    identity, token = _backends(request).identity, session.principal_token

    async def act(form) -> str:  # noqa: ANN001
        await identity.create_portal_user(
            token,
            customer_id=customer_id,
            contact_id=field(form, "contact_id")[:36],
            login="",
            email=field(form, "email").strip()[:320],
            password="",
            group_name=field(form, "group_name")[:100],
            require_mfa=field(form, "require_mfa") == "1",
        )
        return "user_added"

    return await _user_action(request, session, act, "user_added")


@router.post("/portal-users/{portal_user_id}/group")
async def change_group(request: Request, portal_user_id: str, session: StaffPage) -> Response:
    identity, token = _backends(request).identity, session.principal_token

    async def act(form) -> str:  # noqa: ANN001
        await identity.set_portal_user_group(token, portal_user_id=portal_user_id, group_name=field(form, "group_name"))
        return "group_changed"

    return await _user_action(request, session, act, "group_changed")


@router.post("/portal-users/{portal_user_id}/invitation")
async def send_invitation(request: Request, portal_user_id: str, session: StaffPage) -> Response:
    identity, token = _backends(request).identity, session.principal_token

    async def act(form) -> str:  # noqa: ANN001
        await identity.invite_portal_user(token, portal_user_id)
        return "invited"

    return await _user_action(request, session, act, "invited")


@router.post("/portal-users/{portal_user_id}/require-mfa")
async def require_mfa(request: Request, portal_user_id: str, session: StaffPage) -> Response:
    identity, token = _backends(request).identity, session.principal_token

    async def act(form) -> str:  # noqa: ANN001
        on = field(form, "require_mfa") == "1"
        await identity.set_require_mfa(token, portal_user_id=portal_user_id, require_mfa=on)
        return "mfa_required" if on else "mfa_not_required"

    return await _user_action(request, session, act, "mfa_required")


@router.post("/portal-users/{portal_user_id}/mfa-reset")
async def reset_mfa(request: Request, portal_user_id: str, session: StaffPage) -> Response:
    identity, token = _backends(request).identity, session.principal_token

    async def act(form) -> str:  # noqa: ANN001
        await identity.reset_mfa(token, portal_user_id)
        return "mfa_reset"

    return await _user_action(request, session, act, "mfa_reset")
