"""Secure links (SPEC P6): opening one needs no sign-in, the link's token is the credential; the staff routes are
under /api/v1/staff. What a link session may reach is tested in tests/e2e/test_account_secure_links.py."""

from __future__ import annotations

PUBLIC = {("GET", "/link")}

ROUTES: list = []
