"""Configurable emails (SPEC P2, P3 and the seed's "Login Details" / "Forgot Password" templates): the invitation,
password reset and login details emails, and the payment receipt (issue 11), per language, with `{{ placeholders }}`.

Staff text is rendered by Jinja2's SandboxedEnvironment (no attribute or method access to anything unsafe), the
plain-text part without escaping and the HTML part with autoescape, so a customer name like `<b>` stays text.
A template may use only its own placeholders: anything else is refused when staff save it (INVALID_ARGUMENT,
422 at the gateway), never discovered when an email is sent. Functions never commit."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.audit.service import record
from identity.db import utcnow
from identity.email_templates.models import EmailTemplate
from servicekit.errors import InvalidArgument
from servicekit.principal import Principal, require_admin

INVITATION = "invitation"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a template name
LOGIN_DETAILS = "login_details"
PAYMENT_RECEIPT = "payment_receipt"
LANGUAGES = ("en", "fr")
MAX_SUBJECT = 300
MAX_BODY = 20_000

_COMMON = ("login", "customer_name", "portal_url", "operator_name")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    INVITATION: ("link", "days", *_COMMON),
    PASSWORD_RESET: ("link", "minutes", *_COMMON),
    LOGIN_DETAILS: ("signin_link", *_COMMON),
    # The amounts, date and invoice lines come formatted in the email's language (mail.billing_notifications).
    PAYMENT_RECEIPT: (
        "name",
        "amount",
        "method",
        "paid_at",
        "invoices",
        "credited",
        "payments_link",
        "customer_name",
        "portal_url",
        "operator_name",
    ),
}
# Values used to try a template out when staff save it.
_SAMPLE = {
    "link": "https://portal.example/reset?token=sample",
    "signin_link": "https://portal.example/signin",
    "days": 7,
    "minutes": 30,
    "login": "name@example.com",
    "customer_name": "Example Ltd",
    "portal_url": "https://portal.example",
    "operator_name": "Service Portal",
    "name": "Alice Moreno",
    "amount": "$125.00",
    "method": "Visa 4242",
    "paid_at": "4 Dec 2026 14:05 UTC",
    "invoices": "INV-1001: $100.00 (nothing left to pay)\nINV-1002: $25.00 ($75.00 left to pay)",
    "credited": "$10.00",
    "payments_link": "https://portal.example/billing/payments",
}

DEFAULTS: dict[tuple[str, str], tuple[str, str]] = {
    (INVITATION, "en"): (
        "You are invited to the customer portal",
        "Hello,\n\n"
        "You have been invited to the customer portal of {{ operator_name }}, where {{ customer_name }} can follow "
        "its tickets, invoices and devices.\n"
        "Your login is: {{ login }}\n\n"
        "To choose your password, open this link within {{ days }} days:\n{{ link }}\n\n"
        "The link works once.\n",
    ),
    (INVITATION, "fr"): (
        "Vous êtes invité sur le portail client",
        "Bonjour,\n\n"
        "Vous êtes invité sur le portail client de {{ operator_name }}, où {{ customer_name }} peut suivre ses "
        "tickets, factures et appareils.\n"
        "Votre identifiant : {{ login }}\n\n"
        "Pour choisir votre mot de passe, ouvrez ce lien dans les {{ days }} jours :\n{{ link }}\n\n"
        "Le lien ne fonctionne qu’une fois.\n",
    ),
    (PASSWORD_RESET, "en"): (
        "Reset your portal password",
        "Hello,\n\n"
        "Someone asked to reset the password of your portal account. To choose a new password, open this link "
        "within {{ minutes }} minutes:\n{{ link }}\n\n"
        "The link works once. If you did not ask for this, ignore this email: your password stays as it is.\n",
    ),
    (PASSWORD_RESET, "fr"): (
        "Réinitialisez votre mot de passe du portail",
        "Bonjour,\n\n"
        "Quelqu’un a demandé à réinitialiser le mot de passe de votre compte du portail. Pour choisir un nouveau "
        "mot de passe, ouvrez ce lien dans les {{ minutes }} minutes :\n{{ link }}\n\n"
        "Le lien ne fonctionne qu’une fois. Si vous n’avez rien demandé, ignorez ce message : votre mot de passe "
        "ne change pas.\n",
    ),
    (LOGIN_DETAILS, "en"): (
        "Your portal login details",
        "Hello,\n\n"
        "Here are your login details for the customer portal of {{ operator_name }}.\n"
        "Login: {{ login }}\n"
        "Sign in at: {{ signin_link }}\n\n"
        "Forgot your password? Use the \u201cForgot your password?\u201d link on that page.\n",
    ),
    (LOGIN_DETAILS, "fr"): (
        "Vos identifiants du portail",
        "Bonjour,\n\n"
        "Voici vos identifiants pour le portail client de {{ operator_name }}.\n"
        "Identifiant : {{ login }}\n"
        "Connexion : {{ signin_link }}\n\n"
        "Mot de passe oublié ? Utilisez le lien \u00ab Mot de passe oublié ? \u00bb de cette page.\n",
    ),
    (PAYMENT_RECEIPT, "en"): (
        "Payment received: {{ amount }}",
        "Hello{% if name %} {{ name }}{% endif %},\n\n"
        "Thank you: we received your payment of {{ amount }} on {{ paid_at }}.\n"
        "Paid with: {{ method }}\n\n"
        "Applied to:\n{{ invoices }}\n"
        "{% if credited %}\n{{ credited }} more than you owed was kept as store credit.\n{% endif %}\n"
        "Your payments are in the portal:\n{{ payments_link }}\n\n"
        "{{ operator_name }}\n",
    ),
    (PAYMENT_RECEIPT, "fr"): (
        "Paiement reçu : {{ amount }}",
        "Bonjour{% if name %} {{ name }}{% endif %},\n\n"
        "Merci : nous avons reçu votre paiement de {{ amount }} le {{ paid_at }}.\n"
        "Payé avec : {{ method }}\n\n"
        "Affecté à :\n{{ invoices }}\n"
        "{% if credited %}\n{{ credited }} de plus que le montant dû ont été conservés en avoir.\n{% endif %}\n"
        "Vos paiements sont sur le portail :\n{{ payments_link }}\n\n"
        "{{ operator_name }}\n",
    ),
}

_TEXT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
# No globals (range, dict, cycler, lipsum, ...): a template sees its placeholders and nothing else, and any other
# name counts as an unknown placeholder.
_TEXT.globals.clear()
_HTML.globals.clear()


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    subject: str
    body: str
    customised: bool

    @property
    def placeholders(self) -> tuple[str, ...]:
        return PLACEHOLDERS[self.name]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _check_names(name: str, language: str) -> None:
    if name not in PLACEHOLDERS:
        raise InvalidArgument(f"choose one of {', '.join(PLACEHOLDERS)}", field="name")
    if language not in LANGUAGES:
        raise InvalidArgument(f"choose one of {', '.join(LANGUAGES)}", field="language")


def language_or_default(language: str) -> str:
    return language if language in LANGUAGES else "en"


def validate(name: str, source: str, *, field: str) -> None:
    """Refuse a syntax error, a placeholder the template does not offer, or text that fails to render."""
    try:
        parsed = _TEXT.parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidArgument(f"line {exc.lineno}: {exc.message}", field=field) from None
    allowed = PLACEHOLDERS[name]
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(allowed))
    if unknown:
        names = ", ".join("{{ %s }}" % n for n in unknown)  # noqa: UP031 - braces are the point
        offered = ", ".join("{{ %s }}" % n for n in allowed)  # noqa: UP031
        raise InvalidArgument(f"unknown placeholder {names}; this template offers {offered}", field=field)
    try:
        _TEXT.from_string(source).render(_SAMPLE)
        _HTML.from_string(source).render(_SAMPLE)
    except TemplateError as exc:  # SecurityError included: the sandbox refused something
        raise InvalidArgument(f"cannot be rendered: {exc}", field=field) from None


async def get_template(s: AsyncSession, *, name: str, language: str) -> Template:
    _check_names(name, language)
    row = await s.get(EmailTemplate, (name, language))
    if row is None:
        subject, body = DEFAULTS[(name, language)]
        return Template(name, language, subject, body, customised=False)
    return Template(name, language, row.subject, row.body, customised=True)


async def list_templates(s: AsyncSession, *, principal: Principal) -> list[Template]:
    require_staff(principal)
    rows = {(r.name, r.language): r for r in (await s.scalars(select(EmailTemplate))).all()}
    out = []
    for name in PLACEHOLDERS:
        for language in LANGUAGES:
            row = rows.get((name, language))
            if row is None:
                subject, body = DEFAULTS[(name, language)]
                out.append(Template(name, language, subject, body, customised=False))
            else:
                out.append(Template(name, language, row.subject, row.body, customised=True))
    return out


async def update_template(
    s: AsyncSession, *, principal: Principal, name: str, language: str, subject: str, body: str
) -> Template:
    require_admin(principal, "change the email templates")
    _check_names(name, language)
    subject = subject.strip()
    if not subject:
        raise InvalidArgument("must not be empty", field="subject")
    if len(subject) > MAX_SUBJECT or "\n" in subject or "\r" in subject:
        raise InvalidArgument(f"one line of at most {MAX_SUBJECT} characters", field="subject")
    if not body.strip():
        raise InvalidArgument("must not be empty", field="body")
    if len(body) > MAX_BODY:
        raise InvalidArgument(f"at most {MAX_BODY} characters", field="body")
    validate(name, subject, field="subject")
    validate(name, body, field="body")
    row = await s.get(EmailTemplate, (name, language))
    if row is None:
        s.add(EmailTemplate(name=name, language=language, subject=subject, body=body, updated_at=utcnow()))
    else:
        row.subject, row.body, row.updated_at = subject, body, utcnow()
    await record(
        s,
        kind="email_template_changed",
        subject=f"email_template:{name}:{language}",
        at=utcnow(),
        detail={"by": principal.subject_id},
    )
    return Template(name, language, subject, body, customised=True)


async def reset_template(s: AsyncSession, *, principal: Principal, name: str, language: str) -> Template:
    require_admin(principal, "change the email templates")
    _check_names(name, language)
    row = await s.get(EmailTemplate, (name, language))
    if row is not None:
        await s.delete(row)
        await record(
            s,
            kind="email_template_reset",
            subject=f"email_template:{name}:{language}",
            at=utcnow(),
            detail={"by": principal.subject_id},
        )
    subject, body = DEFAULTS[(name, language)]
    return Template(name, language, subject, body, customised=False)


def _html(rendered_body: Markup) -> str:
    paragraphs = [p for p in str(rendered_body).split("\n\n") if p.strip()]
    inner = "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html><body style="font-family:sans-serif">{inner}</body></html>'


async def render(s: AsyncSession, *, name: str, language: str, values: dict[str, object]) -> RenderedEmail:
    """The email in `language` (customised or default) with `values`; a customised template that fails to
    render here (it was checked when saved) falls back to the default text rather than losing the email."""
    language = language_or_default(language)
    template = await get_template(s, name=name, language=language)
    context = {k: values.get(k, "") for k in PLACEHOLDERS[name]}
    try:
        return _render(template.subject, template.body, context)
    except TemplateError:
        subject, body = DEFAULTS[(name, language)]
        return _render(subject, body, context)


def _render(subject: str, body: str, context: dict[str, object]) -> RenderedEmail:
    one_line = " ".join(_TEXT.from_string(subject).render(context).split())
    if len(one_line) > MAX_SUBJECT:
        one_line = one_line[: MAX_SUBJECT - 1] + "…"
    text = _TEXT.from_string(body).render(context)
    html = _html(Markup(_HTML.from_string(body).render(context)))  # noqa: S704 - autoescaped by _HTML
    return RenderedEmail(subject=one_line, text=text, html=html)
