"""Remote's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once.

No script run finishes yet (agents do not report runs). The series exist from the start, at 0, one per final
outcome, so the dashboards' script-run panels watch a real (quiet) series rather than a missing one.
"""

from __future__ import annotations

from prometheus_client import Counter

from remote.script_runs.models import FAILED, SUCCEEDED, TIMED_OUT

OUTCOMES = (SUCCEEDED, FAILED, TIMED_OUT)

SCRIPT_RUNS = Counter("portal_remote_script_runs", "Script runs that finished, by outcome", ["outcome"])

for _outcome in OUTCOMES:
    SCRIPT_RUNS.labels(_outcome)
