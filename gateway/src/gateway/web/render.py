"""Server-rendered pages: templates compiled once at startup, the language picked per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.areas.navigation import portal_nav
from gateway.edge.errors import Kind
from gateway.edge.middleware import page_csp
from gateway.edge.portal_controls import origin, request_controls
from gateway.edge.sessions import Session
from gateway.web.i18n import LANG_COOKIE, LANGUAGES, Translator, load_translators, pick_language

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
_PAGES = (
    "session/signin.html",
    "home/index.html",
    "tickets/new.html",
    "error.html",
    "staff/home.html",
    "tickets/list.html",
    "tickets/ticket.html",
)


def signed_in_as(t: Translator, session: Session | None) -> str:
    """Who the header names; a secure link is nobody's sign-in (SPEC P6), so it says so."""
    if session is None:
        return ""
    key = "secure_links.signed_in_as" if session.principal.is_link else "nav.signed_in_as"
    return t(key, name=session.principal.display_name)


class Pages:
    def __init__(self, *, operator_name: str) -> None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            auto_reload=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # The portal's main navigation in base.html: the areas the signed-in group may open.
        env.globals["portal_nav"] = portal_nav
        self._env = env
        self._templates = {name: env.get_template(name) for name in _PAGES}
        self.translators = load_translators()
        self.operator_name = operator_name

    def translator(self, request: Request) -> Translator:
        # SPEC H5: a signed-in user reads the language kept on the user, in any browser; else the cookie's or the
        # browser's.
        session = getattr(request.state, "session", None)
        kept = session.language if session is not None else ""
        if kept in self.translators:
            return self.translators[kept]
        lang = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
        return self.translators[lang]

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        session: Session | None = None,
        csrf_token: str = "",
        status_code: int = 200,
        inline_styles: bool = False,
    ) -> HTMLResponse:
        ctx = self.context(request, context, session=session, csrf_token=csrf_token)
        # Feature templates (e.g. "account/...") compile on first use; Jinja keeps them compiled afterwards.
        template = self._templates.get(name) or self._env.get_template(name)
        html = template.render(ctx)
        headers = {"Vary": "Cookie, Accept-Language"}
        style, img = origin(ctx["custom_css_url"]), origin(ctx["logo_url"])
        if style or img or inline_styles:
            headers["Content-Security-Policy"] = page_csp(
                style_origin=style, img_origin=img, inline_styles=inline_styles
            )
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def context(
        self, request: Request, context: dict[str, Any] | None = None, *, session: Session | None, csrf_token: str = ""
    ) -> dict[str, Any]:
        """What every template may read (the page's header, language, session), then `context`."""
        t = self.translator(request)
        controls = request_controls(request)
        ctx = {
            "t": t,
            "T": t.table,
            "lang": t.lang,
            "other_lang": next(code for code in LANGUAGES if code != t.lang),
            "operator_name": (controls and controls.operator_name) or self.operator_name,
            # SPEC P12: validated by identity (https:// or a same-origin path) and escaped here.
            "logo_url": controls.logo_url if controls else "",
            "custom_css_url": controls.custom_css_url if controls else "",
            "path": request.url.path,
            "signout_action": "/staff/signout" if request.url.path.startswith("/staff") else "/signout",
            "session": session,
            "csrf_token": session.csrf_token if session and not csrf_token else csrf_token,
            "signed_in_as": signed_in_as(t, session),
        }
        if context:
            ctx.update(context)
        return ctx

    def blocks(self, name: str, ctx: dict[str, Any], names: tuple[str, ...]) -> list[str]:
        """Blocks of a page template rendered with a whole context (`context`), as text; "" for a block it leaves
        to base.html."""
        template = self._templates.get(name) or self._env.get_template(name)
        context = template.new_context(ctx)
        return ["".join(template.blocks[b](context)) if b in template.blocks else "" for b in names]

    def fragment(self, name: str, ctx: dict[str, Any]) -> str:
        """A template rendered with a whole context (`context`), as text: a part of a page the caller assembles."""
        return (self._templates.get(name) or self._env.get_template(name)).render(ctx)

    def error(
        self, request: Request, kind: Kind, *, slug: str | None = None, session: Session | None = None
    ) -> HTMLResponse:
        t = self.translator(request)
        key = slug or kind.slug
        title, message = t(f"error.{key}.title"), t(f"error.{key}.detail")
        if title.startswith("error."):
            title, message = t("error.bad-gateway.title"), kind.title
        signed_in = session is not None
        return self.render(
            request,
            "error.html",
            {
                "title": title,
                "message": message,
                "back_href": "/" if signed_in or key != "csrf" else "/signin",
                "back_label": t("error.back_home") if signed_in or key != "csrf" else t("error.back_signin"),
            },
            session=session,
            status_code=kind.status,
        )
