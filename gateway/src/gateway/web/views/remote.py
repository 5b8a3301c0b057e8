"""Script-run rows (remote)."""

from __future__ import annotations

from typing import NamedTuple

from gateway.clients.schemas import ScriptRun
from gateway.web.i18n import Translator
from gateway.web.views import status_class


class RunRow(NamedTuple):
    script: str
    status: str
    status_class: str
    exit_code: str
    started: str
    finished: str


def run_row(t: Translator, r: ScriptRun) -> RunRow:
    return RunRow(
        r.script_name,
        t.status(r.status),
        status_class(r.status),
        str(r.exit_code) if r.finished_at else "",
        t.datetime(r.started_at),
        t.datetime(r.finished_at),
    )
