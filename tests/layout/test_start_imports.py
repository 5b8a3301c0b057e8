"""What a process loads when it starts (issue 16: each under 150 MB resident after the benchmark load). A library
that only a rare path or another process needs costs memory for the process's whole life once imported, so the
modules below are never loaded by importing a process's main module; each line says where they are loaded instead.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NEVER_AT_START = {
    # The gateway has no database: the outbox and inbox (servicekit.events) are the services'; it takes only event
    # names from servicekit.subjects. SQLAlchemy with the kit's database layer was ~20 MB of it.
    "gateway.main": ["sqlalchemy", "alembic"],
    # Web push is loaded on the first push (identity.push.sender).
    "identity.main": ["pywebpush", "requests"],
    # The Stripe SDK only with the Stripe processor, the sandbox (Starlette, uvicorn) only when billing serves it
    # (billing.payments.wiring).
    "billing.main": ["stripe", "requests", "starlette", "uvicorn", "billing.payments.sandbox"],
    # Pillow on the first image that gets a thumbnail (servicekit.uploads.thumbnails).
    "tickets.main": ["PIL"],
    "assets.main": ["PIL"],
    "remote.main": [],
}
# A service applies its migrations at start in a child process (servicekit.migrations.upgrade_in_child).
for _main in ("identity.main", "tickets.main", "billing.main", "assets.main", "remote.main"):
    NEVER_AT_START[_main] += ["alembic", "mako"]


@pytest.mark.parametrize("main", sorted(NEVER_AT_START))
def test_a_process_does_not_load_at_start_what_it_rarely_or_never_needs(main: str) -> None:
    code = f"import json, sys, {main}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = set(json.loads(out))
    assert [m for m in NEVER_AT_START[main] if m in loaded] == []
