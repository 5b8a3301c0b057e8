"""The staff JSON API under /api/v1/staff: one file per area, each behind StaffApiSession (api/deps.py).

Staff sign in with `POST /api/v1/staff/sessions` and send that token as the bearer; a portal session gets 403.
Identity enforces the same rule itself (PERMISSION_DENIED for any non-staff principal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import StringConstraints

Id = Annotated[str, Path(min_length=1, max_length=36)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
