"""The events remote publishes (messages in portal/remote/v1/events.proto) and those it consumes.

Nothing publishes yet: scripts do not run through the service in this slice. When an agent reports a
finished run, `servicekit.events.add_event(session, SCRIPT_RUN_FINISHED, events_pb2.ScriptRunFinished(...),
customer_id=...)` goes in the same unit of work as the run's final status. Remote consumes no events yet.
"""

from __future__ import annotations

from servicekit.events import subject

SCRIPT_RUN_FINISHED = subject("remote", "script_run_finished")
