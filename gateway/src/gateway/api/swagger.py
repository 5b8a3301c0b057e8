"""The API's interactive documentation page: Swagger UI from the project's own static files
(web/static/vendor/swagger-ui, web/static/api-docs.js), so the page needs no CDN and no inline script
(edge.middleware's _DOCS_CSP)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""


@router.get("/api/v1/docs", include_in_schema=False)
async def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    return HTMLResponse(_PAGE.format(title=escape(f"{app.title} - Swagger UI"), openapi_url=escape(app.openapi_url)))
