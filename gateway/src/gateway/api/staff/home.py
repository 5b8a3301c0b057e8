"""Staff JSON API for the portal home's layout (SPEC H3): GET for every staff user, PUT and DELETE (reset) for
admins; identity enforces the same rule itself."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import StaffApiSession
from gateway.api.docs import problems
from gateway.clients.portal_controls import HomeLayout, PortalControlsClient
from gateway.edge.portal_controls import controls_cache

router = APIRouter(prefix="/api/v1/staff", tags=["staff: portal controls"], responses=problems(400, 401, 403, 503))


class LayoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="A section or widget: account_overview, open_tickets, open_invoices, recent_payments, estimates, "
        "attachments, assets, script_runs, credentials, announcements, charts, recent_tickets, shortcuts, "
        "recent_documents, recent_faq, renewal_notice"
    )
    enabled: bool = True


class Layout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[LayoutItem] = Field(
        max_length=64,
        description="In the order the home shows them; each key at most once. Known keys left out are appended, "
        "enabled, at the end; an unknown key is 400",
    )
    default_scope: Literal["all", "mine"] = Field(
        "all", description="What users allowed both see first on lists that offer All and Mine (tickets, assets)"
    )

    @classmethod
    def of(cls, layout: HomeLayout) -> Layout:
        return cls(
            items=[LayoutItem(key=k, enabled=e) for k, e in layout.items],
            default_scope="mine" if layout.default_scope == "mine" else "all",
        )


def _client(request: Request) -> PortalControlsClient:
    return request.app.state.backends.portal_controls


@router.get("/home-layout")
async def get_layout(request: Request, session: StaffApiSession) -> Layout:
    """The portal home's sections and widgets in order, each enabled or not, and the default list scope."""
    return Layout.of(await _client(request).home_layout(session.principal_token))


@router.put("/home-layout")
async def put_layout(body: Layout, request: Request, session: StaffApiSession) -> Layout:
    """Admins: store the layout; the portal shows it from the next page view."""
    wanted = HomeLayout(tuple((i.key, i.enabled) for i in body.items), body.default_scope)
    layout = await _client(request).update_home_layout(session.principal_token, wanted)
    controls_cache(request.app).invalidate()
    return Layout.of(layout)


@router.delete("/home-layout")
async def reset_layout(request: Request, session: StaffApiSession) -> Layout:
    """Admins: back to the default layout (everything shown, default order, scope all)."""
    layout = await _client(request).update_home_layout(session.principal_token, None)
    controls_cache(request.app).invalidate()
    return Layout.of(layout)
