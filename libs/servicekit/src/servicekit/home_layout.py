"""The portal home's keys (SPEC H1-H3): every section and widget the home can show, in the default order. The one
list identity's layout (stored order, enabled or not) and the gateway's home (what it fetches and renders) share.

A key added here appears, enabled, at the end of a layout staff stored before (identity's `normalise`); a key
removed here is dropped from it. The gateway renders a section for every key (`gateway/areas/home.py`).
"""

from __future__ import annotations

KEYS: tuple[str, ...] = (
    "renewal_notice",
    "announcements",
    "shortcuts",
    "account_overview",
    "open_tickets",
    "open_invoices",
    "recent_payments",
    "estimates",
    "attachments",
    "assets",
    "script_runs",
    "credentials",
    "charts",
    "recent_tickets",
    "recent_documents",
    "recent_faq",
)
