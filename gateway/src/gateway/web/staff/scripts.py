"""The staff console's script catalogue (SPEC R2, X2): /staff/scripts lists every script; a form creates or edits
one (name, language, body, variables as rows — name / label / default / required, with empty rows to fill without
JavaScript — timeout, "available on every customer portal", its self-service name and confirmation text); delete
asks first. Technicians and admins; the remote service checks every field again and names a refused one."""

from __future__ import annotations

from urllib.parse import quote

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import remote as rules
from gateway.clients import Backends
from gateway.clients.schemas import Script, ScriptVariable
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field
from gateway.web.render import Pages

router = APIRouter(prefix="/staff", include_in_schema=False)

# Rows for new variables under the script's own, so a script gets its variables without JavaScript.
BLANK_VARIABLE_ROWS = 5
_DONE = ("created", "saved", "deleted")


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def _limits() -> dict[str, int]:
    return {
        "name": rules.SCRIPT_NAME_MAX,
        "body": rules.SCRIPT_BODY_MAX,
        "text": rules.SCRIPT_TEXT_MAX,
        "timeout": rules.SCRIPT_TIMEOUT_MAX,
        "value": rules.VARIABLE_VALUE_MAX,
    }


@router.get("/scripts")
async def scripts_page(request: Request, session: StaffPage) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    try:
        page = await _backends(request).remote.list_scripts(session.principal_token, page_size=100)
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return pages.render(request, "remote/unavailable.html", {"back_href": "/staff"}, session=session)
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "staff/scripts/list.html",
        {
            "scripts": [
                {
                    "id": s.id,
                    "name": s.name,
                    "language": s.language,
                    "portal": s.portal_name if s.portal else "",
                    "variables": len(s.variables),
                    "updated": t.datetime(s.updated_at),
                }
                for s in page.items
            ],
            "more": bool(page.next_cursor),
            "done": t(f"staff.scripts.done.{done}") if done in _DONE else "",
        },
        session=session,
    )


def _form_page(
    request: Request,
    session: Session,
    script: Script,
    *,
    error: str = "",
    key: str = "",
    status_code: int = 200,
) -> Response:
    rows = [*script.variables, *[None] * BLANK_VARIABLE_ROWS][: rules.SCRIPT_VARIABLES_MAX]
    return _pages(request).render(
        request,
        "staff/scripts/form.html",
        {
            "s": script,
            "rows": rows,
            "languages": rules.LANGUAGES,
            "action": f"/staff/scripts/{quote(script.id, safe='')}" if script.id else "/staff/scripts/new",
            "key": key or new_key(),
            "error": error,
            "limits": _limits(),
        },
        session=session,
        status_code=status_code,
    )


_EMPTY = Script(id="", name="", language="shell", body="", timeout_seconds=300)


@router.get("/scripts/new")
async def new_script(request: Request, session: StaffPage) -> Response:
    return _form_page(request, session, _EMPTY)


@router.get("/scripts/{script_id}")
async def edit_script(request: Request, script_id: str, session: StaffPage) -> Response:
    script = await _backends(request).remote.get_script(session.principal_token, script_id[:64])
    return _form_page(request, session, script)


async def _read(request: Request, script_id: str) -> tuple[Script, str, str]:
    """The posted script, its idempotency key, and the first problem the form can see itself ("" when none)."""
    limit = request.app.state.settings.max_body_bytes
    form = await request.form(max_files=0, max_fields=20 + 4 * rules.SCRIPT_VARIABLES_MAX, max_part_size=limit)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    t = _pages(request).translator(request)
    variables = []
    for i in range(rules.SCRIPT_VARIABLES_MAX):
        name = field(form, f"var_name_{i}").strip()
        if name:
            variables.append(
                ScriptVariable(
                    name=name[:64],
                    label=field(form, f"var_label_{i}").strip()[: rules.SCRIPT_TEXT_MAX],
                    default_value=field(form, f"var_default_{i}")[: rules.VARIABLE_VALUE_MAX],
                    required=bool(form.get(f"var_required_{i}")),
                )
            )
    error = ""
    raw_timeout = field(form, "timeout_seconds").strip() or "300"
    timeout = int(raw_timeout) if raw_timeout.isdigit() and len(raw_timeout) < 7 else 0
    if not 1 <= timeout <= rules.SCRIPT_TIMEOUT_MAX:
        error = t("staff.scripts.bad_timeout", max=rules.SCRIPT_TIMEOUT_MAX)
    language = field(form, "language")
    script = Script(
        id=script_id,
        name=field(form, "name").strip()[: rules.SCRIPT_NAME_MAX],
        language=language if language in rules.LANGUAGES else "shell",
        body=field(form, "body")[: rules.SCRIPT_BODY_MAX],
        variables=variables,
        timeout_seconds=timeout or 300,
        portal=bool(form.get("portal")),
        portal_name=field(form, "portal_name").strip()[: rules.SCRIPT_NAME_MAX],
        portal_confirmation=field(form, "portal_confirmation").strip()[: rules.SCRIPT_TEXT_MAX],
    )
    if not script.name or not script.body.strip():
        error = error or t("staff.scripts.needs_name_body")
    key = field(form, "idempotency_key")
    return script, (key if IDEMPOTENCY_KEY.match(key) else ""), error


def _refusal(err: grpc.aio.AioRpcError) -> str:
    if err.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS):
        raise err
    name, detail = split_field(err.details() or "")
    return f"{name}: {detail}" if name else detail


@router.post("/scripts/new")
async def create_script(request: Request, session: StaffPage) -> Response:
    script, key, error = await _read(request, "")
    if not error:
        try:
            await _backends(request).remote.create_script(session.principal_token, script, idempotency_key=key)
        except grpc.aio.AioRpcError as err:
            error = _refusal(err)
    if error:
        return _form_page(request, session, script, error=error, key=key, status_code=400)
    return RedirectResponse("/staff/scripts?done=created", 303)


@router.post("/scripts/{script_id}")
async def save_script(request: Request, script_id: str, session: StaffPage) -> Response:
    script, _, error = await _read(request, script_id[:64])
    if not error:
        try:
            await _backends(request).remote.update_script(session.principal_token, script)
        except grpc.aio.AioRpcError as err:
            error = _refusal(err)
    if error:
        return _form_page(request, session, script, error=error, status_code=400)
    return RedirectResponse("/staff/scripts?done=saved", 303)


@router.get("/scripts/{script_id}/delete")
async def delete_confirm(request: Request, script_id: str, session: StaffPage) -> Response:
    script = await _backends(request).remote.get_script(session.principal_token, script_id[:64])
    return _pages(request).render(request, "staff/scripts/delete.html", {"s": script}, session=session)


@router.post("/scripts/{script_id}/delete")
async def delete_script(request: Request, script_id: str, session: StaffPage) -> Response:
    limit = request.app.state.settings.max_body_bytes
    form = await request.form(max_files=0, max_fields=5, max_part_size=limit)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    await _backends(request).remote.delete_script(session.principal_token, script_id[:64])
    return RedirectResponse("/staff/scripts?done=deleted", 303)
