"""The events remote publishes (messages in portal/remote/v1/events.proto), each written to the outbox in the unit
of work of the change it reports; this module imports models only.

Nothing publishes yet: scripts do not run through the service in this slice. When an agent reports a finished run,
a function here (`script_run_finished(session, run)`) calls `servicekit.events.add_event(session,
SCRIPT_RUN_FINISHED, events_pb2.ScriptRunFinished(...), customer_id=...)` in the same unit of work as the run's
final status.
"""

from __future__ import annotations

from servicekit.events import subject

SCRIPT_RUN_FINISHED = subject("remote", "script_run_finished")
