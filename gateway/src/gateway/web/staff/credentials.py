"""The staff console's masked credentials (SPEC A5, X8): the Credentials section of a customer's page (its
credentials, public and private, and the form for a new one), a credential's page (edit, Reveal — a POST answered
with the page showing the password once, never cached — Delete after a confirmation page, and its access log with
address and browser), and the Credential Access Report with its filters and CSV download. The assets service holds
the rules and records every reveal; `areas/credentials.py` has what these pages share with the staff API."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote, urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import credentials as rules
from gateway.clients import Backends
from gateway.clients.credentials import Credential, CredentialInput
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.views.credentials import access_row, credential_row

router = APIRouter(prefix="/staff", include_in_schema=False)

SECTION_SIZE = 100
LOG_SIZE = 50
REPORT_SIZE = 50
_DONE = {"created", "saved", "deleted"}


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def _contact_names(contacts) -> dict[str, str]:  # noqa: ANN001 - portal.identity.v1.Contact list
    return {ct.id: ct.name for ct in contacts}


def _row(t: Translator, c: Credential, names: dict[str, str]) -> dict:
    row = credential_row(t, c, href=f"/staff/credentials/{quote(c.id, safe='')}")
    row["whose"] = names.get(c.contact_id, c.contact_id) if c.contact_id else t("credentials.the_customer")
    return row


async def customer_section(request: Request, session: Session, customer_id: str, contacts) -> dict:  # noqa: ANN001
    """What the customer page's Credentials section shows (staff/credentials/_section.html)."""
    t = _pages(request).translator(request)
    done = request.query_params.get("credential_done", "")
    base = {
        "done": t(f"credentials.done.{done}") if done in _DONE else "",
        "key": new_key(),
        "contacts": [{"id": ct.id, "name": ct.name} for ct in contacts],
        "rows": [],
        "unavailable": False,
        "more": False,
    }
    try:
        page = await _backends(request).credentials.list(
            session.principal_token, customer_id=customer_id, page_size=SECTION_SIZE
        )
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        return {**base, "unavailable": True}
    names = _contact_names(contacts)
    return {**base, "rows": [_row(t, c, names) for c in page.items], "more": bool(page.next_cursor)}


def _input(form, customer_id: str = "") -> CredentialInput:  # noqa: ANN001 - starlette FormData
    return CredentialInput(
        customer_id=customer_id,
        contact_id=field(form, "contact_id")[:36],
        document_id=field(form, "document_id")[:36],
        name=field(form, "name"),
        username=field(form, "username"),
        url=field(form, "url"),
        notes=field(form, "notes"),
        public=field(form, "public") == "1",
    )


def _form_error(err: grpc.aio.AioRpcError) -> str | None:
    """The message to show beside the form for a refusal the user can correct, None for anything else."""
    if err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        name, detail = split_field(err.details() or "")
        return detail or err.details() or ""
    return None


async def _credential_page(
    request: Request,
    session: Session,
    credential_id: str,
    *,
    password: str | None = None,
    error: str = "",
    values: CredentialInput | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    if len(credential_id) > 36:
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    c = await backends.credentials.get(token, credential_id)
    contacts = await backends.identity.list_contacts(token, c.customer_id)
    log = await backends.credentials.access(token, credential_id=c.id, page_size=LOG_SIZE)
    row = _row(t, c, _contact_names(contacts))
    if values is not None:  # a refused edit shows what was typed (never a password)
        row.update(
            name=values.name,
            username=values.username,
            url=values.url,
            notes=values.notes,
            public=values.public,
            contact_id=values.contact_id,
            document_id=values.document_id,
        )
    done = request.query_params.get("done", "")
    response = pages.render(
        request,
        "staff/credentials/detail.html",
        {
            "c": row,
            "customer_id": c.customer_id,
            "contacts": [{"id": ct.id, "name": ct.name} for ct in contacts],
            "password": password,
            "log": [access_row(t, e) for e in log.items],
            "more_log": bool(log.next_cursor),
            "staff_log": True,
            "error": error,
            "done": t(f"credentials.done.{done}") if done in _DONE else "",
        },
        session=session,
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _back_to_customer(customer_id: str, done: str) -> RedirectResponse:
    # The customer id comes from the route or the service: quoted into our own path, never a URL of the client's.
    return RedirectResponse(
        f"/staff/customers/{quote(customer_id, safe='')}?credential_done={done}#credentials", status_code=303
    )


@router.post("/customers/{customer_id}/credentials")
async def create(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    key = field(form, "idempotency_key")
    values = _input(form, customer_id[:36])
    password = field(form, "password")
    if len(password) > rules.PASSWORD_MAX:
        password, error = "", pages.translator(request)("credentials.password_too_long", n=rules.PASSWORD_MAX)
    else:
        error = ""
    if not error:
        try:
            await _backends(request).credentials.create(
                session.principal_token,
                values,
                password=password,
                idempotency_key=key if IDEMPOTENCY_KEY.match(key) else new_key(),
            )
        except grpc.aio.AioRpcError as err:
            error = _form_error(err)
            if error is None:
                raise
    if error:
        return await _new_form(request, session, customer_id, values, error)
    return _back_to_customer(customer_id, "created")


async def _new_form(
    request: Request, session: Session, customer_id: str, values: CredentialInput, error: str
) -> Response:
    """The new-credential form again, with what was typed (but the password) and why it was refused."""
    pages = _pages(request)
    try:
        contacts = await _backends(request).identity.list_contacts(session.principal_token, customer_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    return pages.render(
        request,
        "staff/credentials/new.html",
        {
            "customer_id": customer_id,
            "v": values,
            "key": new_key(),
            "contacts": [{"id": ct.id, "name": ct.name} for ct in contacts],
            "error": error,
        },
        session=session,
        status_code=400,
    )


@router.get("/credentials/{credential_id}")
async def credential_page(request: Request, credential_id: str, session: StaffPage) -> Response:
    return await _credential_page(request, session, credential_id)


@router.post("/credentials/{credential_id}")
async def update(request: Request, credential_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    values = _input(form)
    password = field(form, "password")
    # An empty password field keeps the password; "clear" stores an empty one.
    new_password = "" if field(form, "clear_password") == "1" else (password or None)
    try:
        if new_password is not None and len(new_password) > rules.PASSWORD_MAX:
            error = _pages(request).translator(request)("credentials.password_too_long", n=rules.PASSWORD_MAX)
        else:
            await _backends(request).credentials.update(
                session.principal_token, credential_id[:36], values, password=new_password
            )
            return RedirectResponse(f"/staff/credentials/{quote(credential_id, safe='')}?done=saved", status_code=303)
    except grpc.aio.AioRpcError as err:
        error = _form_error(err)
        if error is None:
            raise
    return await _credential_page(request, session, credential_id, error=error, values=values, status_code=400)


@router.post("/credentials/{credential_id}/reveal")
async def reveal(request: Request, credential_id: str, session: StaffPage) -> Response:
    """The credential's page with the password shown, answered to the POST itself: no URL or redirect carries it."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    if len(credential_id) > 36:
        return _pages(request).error(request, NOT_FOUND, session=session)
    shown = await _backends(request).credentials.reveal(session.principal_token, credential_id)
    return await _credential_page(request, session, credential_id, password=shown.password)


@router.get("/credentials/{credential_id}/delete")
async def delete_confirm(request: Request, credential_id: str, session: StaffPage) -> Response:
    pages = _pages(request)
    if len(credential_id) > 36:
        return pages.error(request, NOT_FOUND, session=session)
    c = await _backends(request).credentials.get(session.principal_token, credential_id)
    t = pages.translator(request)
    return pages.render(request, "staff/credentials/delete.html", {"c": credential_row(t, c, href="")}, session=session)


@router.post("/credentials/{credential_id}/delete")
async def delete(request: Request, credential_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    if len(credential_id) > 36:
        return pages.error(request, NOT_FOUND, session=session)
    backends, token = _backends(request), session.principal_token
    c = await backends.credentials.get(token, credential_id)
    await backends.credentials.delete(token, credential_id)
    return _back_to_customer(c.customer_id, "deleted")


# --- the Credential Access Report ------------------------------------------------------------------------------------


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _report_filters(request: Request) -> tuple[dict, dict]:
    """(what the form shows, what the service is asked) from the query string; a bad date is ignored and said."""
    qp = request.query_params
    shown = {
        "customer_id": qp.get("customer_id", "").strip()[:36],
        "person": " ".join(qp.get("person", "").split())[: rules.PERSON_MAX],
        "since": qp.get("since", "")[:10],
        "until": qp.get("until", "")[:10],
    }
    since, until = _day(shown["since"]), _day(shown["until"])
    start, end = rules.day_range(since, until)
    shown["bad_date"] = (bool(shown["since"]) and since is None) or (bool(shown["until"]) and until is None)
    asked = {"customer_id": shown["customer_id"], "person": shown["person"], "since": start, "until": end}
    return shown, asked


@router.get("/credential-access")
async def report(request: Request, session: StaffPage) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    shown, asked = _report_filters(request)
    cursor = request.query_params.get("cursor", "")[:512]
    error = t("credentials.report.bad_date") if shown["bad_date"] else ""
    try:
        page = await _backends(request).credentials.access(
            session.principal_token, page_size=REPORT_SIZE, cursor=cursor, **asked
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        page, error = None, split_field(err.details() or "")[1]
    query = [(k, shown[k]) for k in ("customer_id", "person", "since", "until") if shown[k]]
    return pages.render(
        request,
        "staff/credentials/report.html",
        {
            "f": shown,
            "rows": [access_row(t, e) for e in page.items] if page else [],
            "error": error,
            "next_href": "/staff/credential-access?" + urlencode([*query, ("cursor", page.next_cursor)])
            if page and page.next_cursor
            else "",
            "first_href": ("/staff/credential-access?" + urlencode(query)) if cursor else "",
            "csv_href": "/staff/credential-access.csv" + ("?" + urlencode(query) if query else ""),
        },
        session=session,
    )


@router.get("/credential-access.csv")
async def report_csv(request: Request, session: StaffPage) -> Response:
    _, asked = _report_filters(request)
    t = _pages(request).translator(request)
    headers = [t(f"language.csv.credential_access.{column}") for column in rules.CSV_COLUMNS]
    return await rules.report_csv(
        _backends(request), session.principal_token, headers=headers, language=t.lang, **asked
    )
