"""The script catalogue in the staff JSON API (SPEC R2, X2): list, read, create (Idempotency-Key), replace and delete
scripts. Technicians and admins; the remote service checks it again and names a refused field (400)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.staff import Id
from gateway.areas import remote as rules
from gateway.clients.schemas import Script, ScriptVariable
from gateway.edge.idempotency import IDEMPOTENCY_KEY

router = APIRouter(prefix="/api/v1/staff", tags=["staff: scripts"], responses=problems(400, 401, 403, 503))

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY.pattern,
        description="Repeat the same key to get the first request's script instead of a second one.",
    ),
]
Text = Annotated[str, StringConstraints(max_length=rules.SCRIPT_TEXT_MAX)]


class VariableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")] = Field(
        description="The environment variable the script reads (never interpolated into its text)"
    )
    label: Text = ""
    default_value: Annotated[str, StringConstraints(max_length=rules.VARIABLE_VALUE_MAX)] = ""
    required: bool = False


class ScriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.SCRIPT_NAME_MAX)]
    language: Literal["shell", "python"]
    body: Annotated[str, StringConstraints(min_length=1, max_length=rules.SCRIPT_BODY_MAX)]
    variables: list[VariableIn] = Field(default_factory=list, max_length=rules.SCRIPT_VARIABLES_MAX)
    timeout_seconds: int = Field(300, ge=1, le=rules.SCRIPT_TIMEOUT_MAX)
    portal: bool = Field(False, description="Available on every customer portal (only without variables)")
    portal_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=rules.SCRIPT_NAME_MAX)] = ""
    portal_confirmation: Text = ""

    def to_script(self, script_id: str = "") -> Script:
        return Script(
            id=script_id,
            name=self.name,
            language=self.language,
            body=self.body,
            variables=[ScriptVariable(**v.model_dump()) for v in self.variables],
            timeout_seconds=self.timeout_seconds,
            portal=self.portal,
            portal_name=self.portal_name,
            portal_confirmation=self.portal_confirmation,
        )


class ScriptPage(BaseModel):
    items: list[Script]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


@router.get("/scripts")
async def list_scripts(
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
    portal_only: Annotated[bool, Query(description="Only scripts a portal user could run")] = False,
) -> ScriptPage:
    """Every script with its body."""
    page = await backends.remote.list_scripts(
        session.principal_token, page_size=page_size, cursor=cursor, portal_only=portal_only
    )
    return ScriptPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/scripts", status_code=status.HTTP_201_CREATED)
async def create_script(
    body: ScriptIn, session: StaffApiSession, backends: Clients, idempotency_key: IdempotencyKey = None
) -> Script:
    return await backends.remote.create_script(
        session.principal_token, body.to_script(), idempotency_key=idempotency_key or ""
    )


@router.get("/scripts/{script_id}", responses=problems(404))
async def get_script(script_id: Id, session: StaffApiSession, backends: Clients) -> Script:
    return await backends.remote.get_script(session.principal_token, script_id)


@router.put("/scripts/{script_id}", responses=problems(404))
async def replace_script(script_id: Id, body: ScriptIn, session: StaffApiSession, backends: Clients) -> Script:
    """Every field is replaced."""
    return await backends.remote.update_script(session.principal_token, body.to_script(script_id))


@router.delete("/scripts/{script_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def delete_script(script_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Past runs keep the script's name."""
    await backends.remote.delete_script(session.principal_token, script_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
