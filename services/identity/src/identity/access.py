"""Who may do what in identity: staff manage everything; a portal user sees only its own customer."""

from __future__ import annotations

from servicekit.errors import PermissionDenied
from servicekit.principal import Principal


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff can do this")


def may_see_customer(principal: Principal, customer_id: str) -> bool:
    """Staff see every customer; others the customers their principal covers (their own, and later subsidiaries)."""
    if principal.is_staff:
        return True
    if principal.is_link:
        # A secure link opens its tickets only (SPEC P6), never the customer's own record or settings.
        return False
    covered = principal.customer_ids or ((principal.customer_id,) if principal.customer_id else ())
    return customer_id in covered


def caller_scope(operation: str, principal: Principal) -> str:
    """The idempotency scope of an operation for this caller."""
    return f"{operation}:{principal.kind}:{principal.subject_id}"
