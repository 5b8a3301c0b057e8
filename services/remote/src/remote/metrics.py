"""Remote's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once.

Gauges are this replica's share (sum them over replicas): agents whose stream it holds, terminals it relays.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from remote.script_runs.models import FAILED, SUCCEEDED, TIMED_OUT

OUTCOMES = (SUCCEEDED, FAILED, TIMED_OUT)

SCRIPT_RUNS = Counter("portal_remote_script_runs", "Script runs that finished, by outcome", ["outcome"])
AGENTS_ONLINE = Gauge("portal_remote_agents_online", "Agent streams this replica holds")
SESSIONS_OPEN = Gauge("portal_remote_sessions_open", "Remote terminal sessions this replica relays")
COMMANDS_REFUSED = Counter(
    "portal_remote_commands_refused", "Commands an agent refused (CommandRefused), by reason", ["reason"]
)
COMMANDS_UNDELIVERED = Counter("portal_remote_commands_undelivered", "Commands not delivered: the agent was offline")

for _outcome in OUTCOMES:
    SCRIPT_RUNS.labels(_outcome)
