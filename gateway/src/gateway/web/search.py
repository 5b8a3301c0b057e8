"""Global search pages (SPEC H4): `/search` for portal users (web/staff/search.py: `/staff/search`). The header's
search box (base.html) is a plain GET form to these pages; the results come from areas/search.py, grouped by kind,
with a notice naming the areas that could not be searched just now. Complete without JavaScript.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.areas import search as area
from gateway.edge.sessions import Session
from gateway.web.deps import PortalPage
from gateway.web.render import Pages

router = APIRouter(include_in_schema=False)


async def results_page(
    request: Request, session: Session, *, staff: bool, extra: dict[str, Any] | None = None, customer_id: str = ""
) -> Response:
    """The results page for either audience: a bad query or kind is a form message (400), never a 5xx."""
    pages: Pages = request.app.state.pages
    t = pages.translator(request)
    raw = request.query_params.get("q", "")
    kinds_raw = request.query_params.getlist("kind")
    query = " ".join(raw.split())[: area.QUERY_MAX * 2]
    context: dict[str, Any] = {
        "query": query,
        "search_query": query,
        "staff": staff,
        "action": "/staff/search" if staff else "/search",
        "kinds": area.KINDS,
        "kind": "",
        "answer": None,
        "message": "",
        "customer_id": customer_id,
        **(extra or {}),
    }
    if not raw.strip() and not kinds_raw:
        # The page opened without a query: just the form.
        return pages.render(request, "search/results.html", context, session=session)
    try:
        text = area.check_query(raw)
        kinds = area.check_kinds(kinds_raw)
    except area.BadSearch as bad:
        context["message"] = t(f"search.error.{bad.field}", max=area.QUERY_MAX)
        return pages.render(request, "search/results.html", context, session=session, status_code=400)
    context["kind"] = kinds[0] if len(kinds) == 1 else ""
    answer = await area.search(
        request.app.state.backends,
        session,
        text,
        kinds,
        deadline=request.app.state.settings.search_deadline_seconds,
        customer_id=customer_id,
    )
    context["answer"] = answer
    context["when"] = {h.id: t.date(h.updated_at) for g in answer.groups for h in g.hits}
    return pages.render(request, "search/results.html", context, session=session)


@router.get("/search")
async def portal_search(request: Request, session: PortalPage) -> Response:
    return await results_page(request, session, staff=False)
