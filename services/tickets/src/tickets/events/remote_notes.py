"""The remote service's records as ticket comments (issue 14, SPEC R1-R2, X1-X2): a script run, a remote session's
audit record, an access request and its decision. Plain text, as every comment (the pages escape it); the output
tail goes in a fenced block longer than any run of backticks inside it, so nothing in the output can close it.

The events carry ids and the names remote knew; values from devices and people are cleaned of control characters
(terminal escapes, NULs) but otherwise shown as they are.
"""

from __future__ import annotations

import re
from datetime import UTC

from google.protobuf.timestamp_pb2 import Timestamp

from portal.remote.v1 import events_pb2

AUTHOR = "Remote actions"
NAME_MAX = 200
REASON_MAX = 2000
TAIL_MAX = 2000

# Every control character except newline and tab; ANSI escape sequences first, whole.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STATUS = {"succeeded": "succeeded", "failed": "failed", "timed_out": "timed out"}
_END_REASONS = {
    "limit": "its time limit was reached",
    "closed": "it was closed",
    "agent_lost": "the device's agent disconnected",
    "revoked": "the device's agent was revoked",
    "exited": "the shell on the device exited",
}


def clean(value: str, limit: int) -> str:
    value = _CONTROL.sub("", _ANSI.sub("", value.replace("\r\n", "\n").replace("\r", "\n")))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def one_line(value: str, limit: int = NAME_MAX) -> str:
    return clean(" ".join(value.split()), limit)


def when(ts: Timestamp) -> str:
    if not ts.seconds and not ts.nanos:
        return "unknown"
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: Timestamp, end: Timestamp) -> str:
    if not start.seconds or not end.seconds:
        return "unknown"
    seconds = max(0, round((end.ToDatetime(tzinfo=UTC) - start.ToDatetime(tzinfo=UTC)).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min {seconds} s"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def fenced(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _on(event: object) -> str:
    """' on "Front desk PC"' when the event names the device; remote's run and session events carry only its id
    (given on a line of its own), so nothing then. getattr: a field the contract may gain later."""
    name = one_line(getattr(event, "asset_name", ""))
    return f' on "{name}"' if name else ""


def _device(event: object) -> str:
    name = one_line(getattr(event, "asset_name", ""))
    return f'"{name}"' if name else f"the device with asset id {one_line(getattr(event, 'asset_id', ''), 64)}"


def _asset_id(event: object) -> str:
    return f"Device (asset) id: {one_line(getattr(event, 'asset_id', ''), 64)}"


def script_run(event: events_pb2.ScriptRunFinished) -> str:
    status = _STATUS.get(event.status, one_line(event.status, 40) or "finished")
    lines = [
        f'Script "{one_line(event.script_name) or "(unnamed)"}" run by {one_line(event.requested_by) or "someone"}'
        f"{_on(event)}: {status}, exit code {event.exit_code}.",
        f"Started {when(event.started_at)}, ended {when(event.finished_at)}.",
    ]
    if event.error:
        lines.append(f"Error: {one_line(event.error, 500)}")
    tail = clean(event.output_tail, TAIL_MAX).strip("\n")
    lines.append(_asset_id(event))
    if tail:
        lines += ["", "Output (last lines):", fenced(tail)]
    else:
        lines.append("No output.")
    return "\n".join(lines)


def run_ticket_subject(event: events_pb2.ScriptRunFinished) -> str:
    """The subject of the ticket opened for a run that asked for a new one: "<script> on <device>"."""
    script = one_line(event.script_name) or "Script"
    device = one_line(event.asset_name) or f"device {one_line(event.asset_id, 64)}"
    return one_line(f"{script} on {device}")


def run_ticket_description(event: events_pb2.ScriptRunFinished) -> str:
    who = one_line(event.requested_by) or "someone"
    return (
        f'Opened to record the script "{one_line(event.script_name) or "(unnamed)"}" that {who} ran on '
        f"{_device(event)} from the portal. The run's result is in the comments."
    )


def session_ended(event: events_pb2.RemoteSessionEnded) -> str:
    kind = {"staff": "staff", "portal": "customer", "portal_user": "customer"}.get(
        event.opened_by_kind, one_line(event.opened_by_kind, 40)
    )
    who = one_line(event.opened_by) or "someone"
    reason = _END_REASONS.get(event.end_reason, one_line(event.end_reason, 100) or "unknown")
    return "\n".join(
        [
            f"Remote session{_on(event)} by {who}{f' ({kind})' if kind else ''}.",
            f"Started {when(event.started_at)}, ended {when(event.ended_at)} "
            f"(duration {duration(event.started_at, event.ended_at)}).",
            f"Sent to the device: {event.bytes_to_device:,} bytes; "
            f"received from it: {event.bytes_from_device:,} bytes.",
            f"Ended because: {reason}.",
            _asset_id(event),
            f"Session id: {one_line(event.session_id, 64)}",
        ]
    )


def access_requested(event: events_pb2.AccessRequested) -> str:
    who = one_line(event.requested_by) or "A technician"
    minutes = event.window_minutes
    reason = clean(event.reason, REASON_MAX).strip()
    return (
        f"Technician {who} asked for remote access to {_device(event)} for "
        f"{minutes} minute{'s' if minutes != 1 else ''}: {reason or '(no reason given)'}\n"
        "Approve or decline it in the portal, under Remote access requests."
    )


def access_decided(event: events_pb2.AccessDecided) -> str:
    who = one_line(event.decided_by) or "the customer"
    if event.approved:
        until = when(event.window_ends_at)
        return f"Remote access to {_device(event)} approved by {who}; the window ends {until}."
    return f"Remote access to {_device(event)} declined by {who}."
