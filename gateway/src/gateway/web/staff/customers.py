"""The staff console's customers (SPEC C1–C6, S2, issue 12): the list with search and badges (C4), and a customer's
page — details and every C3 setting, contacts, subsidiaries, its open tickets, its first sites and assets (issue
13, linking the Assets and sites tab), a link to its billing tab — the form that creates and edits a customer (every
C3 setting, custom field answers, its own portal access) and its contacts, and Archive / Re-enable (C5) and Delete,
each after a confirmation page; Delete is offered only when no service holds
data for the customer (identity asks them; the staff API's data-holders check). Identity refuses all of it to a
principal that is not staff; these pages also answer a portal session with 403."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import ticket_statuses
from gateway.areas.assets import customer_assets
from gateway.clients import Backends
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, INVALID, NOT_FOUND, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.staff import documents as staff_documents
from gateway.web.staff.credentials import customer_section as credentials_section
from gateway.web.staff.tickets import staff_status
from gateway.web.views import status_class

router = APIRouter(prefix="/staff", include_in_schema=False)

PAGE_SIZE = 25
OPEN_TICKETS = 10
_DONE = {
    "language",
    "archived",
    "enabled",
    "user_added",
    "group_changed",
    "invited",
    "mfa_required",
    "mfa_not_required",
    "mfa_reset",
    "created",
    "saved",
    "contact_saved",
    "override_on",
    "override_off",
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
        t.plural("language.plural.days", s.invoice_terms_days)
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


# Declared before /customers/{customer_id}, which would otherwise take "new" for an id.
@router.get("/customers/new")
async def new_customer(request: Request, session: StaffPage) -> Response:
    return await _form_page(request, session, _blank())


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
    await ticket_statuses.refresh(backends.tickets, token)
    contacts, tickets, users, groups, assets = await asyncio.gather(
        backends.identity.list_contacts(token, c.id),
        backends.tickets.list_tickets(token, page_size=OPEN_TICKETS, open_only=True, customer_id=c.id, sort="oldest"),
        backends.identity.list_portal_users(token, c.id),
        backends.identity.list_permission_groups(token),
        customer_assets(backends, token, c.id),
        return_exceptions=True,
    )
    for answer in (contacts, users, groups):
        if isinstance(answer, BaseException):
            raise answer
    contact_names = {ct.id: ct.name for ct in contacts}
    documents = await staff_documents.section(request, session, c.id)
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
                    "contact_user": bool(u.contact_id),
                    "admin_override": u.admin_override,
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
            "assets": None if isinstance(assets, BaseException) else assets,
            "done": t(f"staff.customers.done.{done}") if done in _DONE else "",
            "error": error,
            "documents": documents,
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


@router.post("/customers/{customer_id}/language")
async def set_language(request: Request, customer_id: str, session: StaffPage) -> Response:
    """SPEC H5: the default language of the customer's users who have not chosen one (emails, pages)."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    try:
        await _backends(request).identity.set_customer_language(
            session.principal_token, customer_id=customer_id, language=str(form.get("language") or "")
        )
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return pages.error(request, NOT_FOUND, session=session)
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            return pages.error(request, INVALID, session=session)
        raise
    return RedirectResponse(f"/staff/customers/{customer_id}?done=language", status_code=303)


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


@router.post("/portal-users/{portal_user_id}/admin-override")
async def admin_override(request: Request, portal_user_id: str, session: StaffPage) -> Response:
    """SPEC P9: a contact's user sees the whole customer (All) wherever its group lets it see."""
    controls, token = _backends(request).portal_controls, session.principal_token

    async def act(form) -> str:  # noqa: ANN001
        on = field(form, "admin_override") == "1"
        await controls.set_admin_override(token, portal_user_id=portal_user_id, on=on)
        return "override_on" if on else "override_off"

    return await _user_action(request, session, act, "override_on")


# --- the customer form (C1–C4): create, edit, and its contacts (C2) -----------------------------------------------
# Identity validates everything; its refusals come back beside the fields with what was typed kept. The staff
# API's POST/PUT /api/v1/staff/customers take the same values.

PHONE_TYPES = ("mobile", "work", "home", "fax", "other")
ADDRESS_TYPES = ("billing", "shipping", "physical")
ADDRESS_PARTS = ("line1", "line2", "city", "region", "postal_code", "country")
# Yes/no settings (C3) with the default a new customer gets.
SWITCHES = (
    ("receive_report_emails", True),
    ("receive_billing_emails", True),
    ("receive_marketing_emails", True),
    ("no_email", False),
    ("tax_free", False),
    ("remote_access_enabled", False),
    ("sms_enabled", False),
)
EMAIL_LISTS = ("notification_emails", "invoice_cc_emails", "ticket_matching_emails")
# The words the customer page already uses for each setting.
_LABELS = {
    "receive_report_emails": "staff.customers.report_emails",
    "receive_billing_emails": "staff.customers.billing_emails",
    "receive_marketing_emails": "staff.customers.marketing_emails",
    "no_email": "staff.customers.no_email",
    "tax_free": "staff.customers.tax_free",
    "remote_access_enabled": "staff.customers.remote_access",
    "sms_enabled": "staff.customers.sms",
    "notification_emails": "staff.customers.notification_emails",
    "invoice_cc_emails": "staff.customers.invoice_cc",
    "ticket_matching_emails": "staff.customers.matching_emails",
}
SPARE_ROWS = 1
_SPLIT = re.compile(r"[\s,;]+")


def _blank() -> dict:
    return {
        "business_name": "",
        "first_name": "",
        "last_name": "",
        "email": "",
        "notes": "",
        "phones": [],
        "addresses": [],
        "answers": {},
        "parent_id": "",
        "tax_rate": "",
        "terms_days": "",
        "warning": "",
        "switches": {name: default for name, default in SWITCHES},
        "lists": dict.fromkeys(EMAIL_LISTS, ""),
        "portal_enabled": False,
        "portal_group": "",
        "portal_mfa": False,
        "idempotency_key": new_key(),
    }


def _from_record(c) -> dict:  # noqa: ANN001 - portal.identity.v1.Customer
    s = c.settings
    rate = "" if not s.HasField("tax_rate_bp") else str((Decimal(s.tax_rate_bp) / 100).normalize())
    return {
        **_blank(),
        "business_name": c.business_name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "notes": c.notes,
        "phones": [{"type": p.type, "number": p.number} for p in c.phones],
        "addresses": [{"type": a.type, **{k: getattr(a, k) for k in ADDRESS_PARTS}} for a in c.addresses],
        "answers": {a.field_id: a.value for a in c.custom_fields},
        "parent_id": c.parent_id,
        "tax_rate": rate,
        "terms_days": str(s.invoice_terms_days) if s.HasField("invoice_terms_days") else "",
        "warning": s.internal_ticket_warning,
        "switches": {name: getattr(s, name) for name, _ in SWITCHES},
        "lists": {name: "\n".join(getattr(s, name)) for name in EMAIL_LISTS},
        "portal_enabled": c.portal_access.enabled,
        "portal_group": c.portal_access.group_name,
        "portal_mfa": c.portal_access.require_mfa,
    }


def _from_form(form) -> dict:  # noqa: ANN001 - starlette FormData
    rows = int(field(form, "rows")) if field(form, "rows").isdigit() else 0
    phones, addresses = [], []
    for i in range(min(rows, 11)):
        number = field(form, f"phone_number_{i}").strip()[:40]
        if number:
            kind = field(form, f"phone_type_{i}")
            phones.append({"type": kind if kind in PHONE_TYPES else "other", "number": number})
        parts = {k: field(form, f"address_{k}_{i}").strip()[:200] for k in ADDRESS_PARTS}
        if any(parts.values()):
            kind = field(form, f"address_type_{i}")
            addresses.append({"type": kind if kind in ADDRESS_TYPES else "billing", **parts})
    return {
        **_blank(),
        **{k: field(form, k).strip()[:200] for k in ("business_name", "first_name", "last_name", "email")},
        "notes": field(form, "notes")[:10_000],
        "phones": phones,
        "addresses": addresses,
        "answers": {
            k.removeprefix("answer_"): str(v).strip()[:500] for k, v in form.items() if k.startswith("answer_")
        },
        "parent_id": field(form, "parent_id")[:36],
        "tax_rate": field(form, "tax_rate").strip()[:12],
        "terms_days": field(form, "terms_days").strip()[:6],
        "warning": field(form, "warning").strip()[:1000],
        "switches": {name: field(form, name) == "1" for name, _ in SWITCHES},
        "lists": {name: field(form, name)[: 20 * 320] for name in EMAIL_LISTS},
        "portal_enabled": field(form, "portal_enabled") == "1",
        "portal_group": field(form, "portal_group")[:100],
        "portal_mfa": field(form, "portal_mfa") == "1",
        "idempotency_key": field(form, "idempotency_key")
        if IDEMPOTENCY_KEY.match(field(form, "idempotency_key"))
        else new_key(),
    }


def _fields(v: dict, errors: dict[str, str], t) -> dict:  # noqa: ANN001 - Translator
    """The form's values as identity takes them (the staff API's CustomerBody.fields() shape); what only the page
    can misread (a tax rate in percent, a number of days) is checked here and named in `errors`."""
    settings: dict = {name: value for name, value in v["switches"].items()}
    settings["internal_ticket_warning"] = v["warning"]
    for name in EMAIL_LISTS:
        settings[name] = [e for e in _SPLIT.split(v["lists"][name]) if e][:20]
    if v["tax_rate"]:
        try:
            bp = Decimal(v["tax_rate"].replace(",", ".")) * 100
            if bp != bp.to_integral_value() or not 0 <= bp <= 10_000:
                raise InvalidOperation
            settings["tax_rate_bp"] = int(bp)
        except InvalidOperation:
            errors["tax_rate"] = t("staff.customers.form.tax_rate_invalid")
    if v["terms_days"]:
        if v["terms_days"].isdigit() and int(v["terms_days"]) <= 365:
            settings["invoice_terms_days"] = int(v["terms_days"])
        else:
            errors["terms_days"] = t("staff.customers.form.terms_invalid")
    return {
        "business_name": v["business_name"],
        "first_name": v["first_name"],
        "last_name": v["last_name"],
        "email": v["email"],
        "notes": v["notes"],
        "phones": v["phones"],
        "addresses": v["addresses"],
        "custom_fields": [{"field_id": k, "value": val} for k, val in v["answers"].items() if val],
        "parent_id": v["parent_id"],
        "settings": settings,
        "portal_access": {
            "enabled": v["portal_enabled"],
            "group_name": v["portal_group"],
            "require_mfa": v["portal_mfa"],
        },
    }


async def _form_page(
    request: Request,
    session: Session,
    values: dict,
    *,
    customer_id: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    backends, token = _backends(request), session.principal_token
    custom_fields, groups = await asyncio.gather(
        backends.identity.list_custom_fields(token), backends.identity.list_permission_groups(token)
    )
    spare = {"type": "", "number": ""}
    return _pages(request).render(
        request,
        "staff/customer_form.html",
        {
            "v": values,
            "customer_id": customer_id,
            "errors": errors or {},
            "phones": [*values["phones"], *[spare] * SPARE_ROWS],
            "addresses": [*values["addresses"], *[dict.fromkeys(("type", *ADDRESS_PARTS), "")] * SPARE_ROWS],
            "rows": max(len(values["phones"]), len(values["addresses"])) + SPARE_ROWS,
            "phone_types": PHONE_TYPES,
            "address_types": ADDRESS_TYPES,
            "address_parts": ADDRESS_PARTS,
            "custom_fields": custom_fields,
            "groups": [g.name for g in groups],
            "switches": [(name, _LABELS[name]) for name, _ in SWITCHES],
            "email_lists": [(name, _LABELS[name]) for name in EMAIL_LISTS],
        },
        session=session,
        status_code=status_code,
    )


def _refusal(err: grpc.aio.AioRpcError) -> dict[str, str] | None:
    """Identity's refusal as a message for the form (beside its field when it names one), or None."""
    if err.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
    ):
        name, detail = split_field(err.details() or "")
        return {(name or "_form").split(".")[0].split("[")[0]: detail}
    return None


@router.post("/customers/new")
async def create_customer(request: Request, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    t = _pages(request).translator(request)
    values = _from_form(form)
    errors: dict[str, str] = {}
    fields = _fields(values, errors, t)
    if errors:
        return await _form_page(request, session, values, errors=errors, status_code=400)
    try:
        made = await _backends(request).identity.create_customer(
            session.principal_token, idempotency_key=values["idempotency_key"], **fields
        )
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return _pages(request).error(request, FORBIDDEN, session=session)
        if (refused := _refusal(err)) is None:
            raise
        return await _form_page(request, session, values, errors=refused, status_code=400)
    return RedirectResponse(f"/staff/customers/{made.id}?done=created", status_code=303)


async def _customer(request: Request, session: Session, customer_id: str):  # noqa: ANN202
    if not customer_id or len(customer_id) > 36:
        return None
    try:
        return (await _backends(request).identity.get_customer_record(session.principal_token, customer_id)).customer
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise


@router.get("/customers/{customer_id}/edit")
async def edit_customer(request: Request, customer_id: str, session: StaffPage) -> Response:
    c = await _customer(request, session, customer_id)
    if c is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    return await _form_page(request, session, _from_record(c), customer_id=c.id)


@router.post("/customers/{customer_id}/edit")
async def save_customer(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    t = _pages(request).translator(request)
    if await _customer(request, session, customer_id) is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    values = _from_form(form)
    errors: dict[str, str] = {}
    fields = _fields(values, errors, t)
    if errors:
        return await _form_page(request, session, values, customer_id=customer_id, errors=errors, status_code=400)
    try:
        await _backends(request).identity.update_customer(session.principal_token, customer_id=customer_id, **fields)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return _pages(request).error(request, FORBIDDEN, session=session)
        if (refused := _refusal(err)) is None:
            raise
        return await _form_page(request, session, values, customer_id=customer_id, errors=refused, status_code=400)
    return RedirectResponse(f"/staff/customers/{customer_id}?done=saved", status_code=303)


# --- contacts (C2) -----------------------------------------------------------------------------------------------


def _contact_values(form) -> dict[str, str]:  # noqa: ANN001
    return {k: field(form, k).strip()[:320] for k in ("name", "email", "phone", "title")}


async def _contact_page(
    request: Request,
    session: Session,
    customer,  # noqa: ANN001
    values: dict[str, str],
    *,
    contact_id: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return _pages(request).render(
        request,
        "staff/contact_form.html",
        {"c": customer, "v": values, "contact_id": contact_id, "errors": errors or {}, "key": new_key()},
        session=session,
        status_code=status_code,
    )


@router.get("/customers/{customer_id}/contacts/new")
async def new_contact(request: Request, customer_id: str, session: StaffPage) -> Response:
    c = await _customer(request, session, customer_id)
    if c is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    return await _contact_page(request, session, c, dict.fromkeys(("name", "email", "phone", "title"), ""))


@router.post("/customers/{customer_id}/contacts/new")
async def create_contact(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    c = await _customer(request, session, customer_id)
    if c is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    values = _contact_values(form)
    key = field(form, "idempotency_key")
    try:
        await _backends(request).identity.create_contact(
            session.principal_token,
            customer_id=c.id,
            idempotency_key=key if IDEMPOTENCY_KEY.match(key) else new_key(),
            **values,
        )
    except grpc.aio.AioRpcError as err:
        if (refused := _refusal(err)) is None:
            raise
        return await _contact_page(request, session, c, values, errors=refused, status_code=400)
    return RedirectResponse(f"/staff/customers/{c.id}?done=contact_saved#contacts-heading", status_code=303)


async def _contact(request: Request, session: Session, customer, contact_id: str):  # noqa: ANN001, ANN202
    contacts = await _backends(request).identity.list_contacts(session.principal_token, customer.id)
    return next((ct for ct in contacts if ct.id == contact_id), None)


@router.get("/customers/{customer_id}/contacts/{contact_id}/edit")
async def edit_contact(request: Request, customer_id: str, contact_id: str, session: StaffPage) -> Response:
    c = await _customer(request, session, customer_id)
    ct = await _contact(request, session, c, contact_id) if c is not None else None
    if ct is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    values = {"name": ct.name, "email": ct.email, "phone": ct.phone, "title": ct.title}
    return await _contact_page(request, session, c, values, contact_id=ct.id)


@router.post("/customers/{customer_id}/contacts/{contact_id}/edit")
async def save_contact(request: Request, customer_id: str, contact_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    c = await _customer(request, session, customer_id)
    ct = await _contact(request, session, c, contact_id) if c is not None else None
    if ct is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    values = _contact_values(form)
    try:
        await _backends(request).identity.update_contact(session.principal_token, contact_id=ct.id, **values)
    except grpc.aio.AioRpcError as err:
        if (refused := _refusal(err)) is None:
            raise
        return await _contact_page(request, session, c, values, contact_id=ct.id, errors=refused, status_code=400)
    return RedirectResponse(f"/staff/customers/{c.id}?done=contact_saved#contacts-heading", status_code=303)
