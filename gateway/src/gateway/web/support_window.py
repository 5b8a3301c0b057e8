"""What the sign-in page says when a contact's support window (SPEC P7) keeps it out of the portal."""

from __future__ import annotations

import re

from gateway.web.i18n import Translator

# The query parameter the gateway adds when it signs a browser out because its window closed.
REASON = "support"
MARKER = "support_window: "
_DETAIL = re.compile(r"^support_window: your (support period ended|portal access starts) on (\d{4}-\d{2}-\d{2})$")


def closed(details: str | None) -> bool:
    """Whether identity refused the session (or the sign-in) because of the support window."""
    return bool(details) and details.startswith(MARKER)


def sign_in_message(t: Translator, details: str | None) -> str:
    """The refusal in the browser's language, with the date identity gave."""
    m = _DETAIL.match(details or "")
    if m is None:
        return t("signin.support_closed")
    key = "signin.support_ended" if m.group(1).startswith("support") else "signin.support_not_started"
    return t(key, date=t.date(m.group(2)))
