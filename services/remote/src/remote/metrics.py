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

# The reasons agent.proto's CommandRefused names, and "other" for anything else an agent sends.
REFUSAL_REASONS = ("bad_signature", "wrong_agent", "expired", "replayed", "unsupported", "busy", "malformed", "other")

# Every series exists at 0 from the start, so a dashboard panel has data and increase() sees the first rise.
for _outcome in OUTCOMES:
    SCRIPT_RUNS.labels(_outcome)
for _reason in REFUSAL_REASONS:
    COMMANDS_REFUSED.labels(_reason)
