"""The text of each email identity sends. Subjects are single-line and bounded; bodies are plain text."""

from __future__ import annotations

from dataclasses import dataclass

from identity.mail.words import greeting, say

TICKET_CREATED = "ticket_created"
MAX_SUBJECT = 300


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def _one_line(value: str) -> str:
    # A newline in a header would let a ticket subject inject headers into the email.
    return " ".join(value.split())


def ticket_created(
    *, number: int, subject: str, ticket_id: str, portal_url: str, greeting_name: str, language: str = "en"
) -> Rendered:
    title = _one_line(subject)
    full = say(language, "ticket_created.subject", number=number, subject=title)
    if len(full) > MAX_SUBJECT:
        full = full[: MAX_SUBJECT - 1] + "…"
    link = f"{portal_url.rstrip('/')}/tickets/{ticket_id}"
    body = (
        f"{greeting(language, greeting_name)}\n\n"
        f"{say(language, 'ticket_created.body', number=number, subject=title, link=link)}\n\n"
        f"{say(language, 'automatic')}\n"
    )
    return Rendered(subject=full, body=body)


PASSWORD_RESET = "password_reset"  # noqa: S105 (a template name)


def password_reset(*, link: str, minutes: int) -> Rendered:
    body = (
        "Hello,\n\n"
        "Someone asked to reset the password of your portal account. To choose a new password, open this link "
        f"within {minutes} minutes:\n{link}\n\n"
        "The link works once. If you did not ask for this, ignore this email: your password stays as it is.\n"
    )
    return Rendered(subject="Reset your portal password", body=body)


INVITATION = "invitation"


def invitation(*, link: str, days: int, login: str) -> Rendered:
    body = (
        "Hello,\n\n"
        "You have been invited to the customer portal, where you can follow your tickets, invoices and devices.\n"
        f"Your login is: {login}\n\n"
        f"To choose your password, open this link within {days} days:\n{link}\n\n"
        "The link works once.\n"
    )
    return Rendered(subject="You are invited to the customer portal", body=body)
