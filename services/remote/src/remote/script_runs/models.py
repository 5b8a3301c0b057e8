"""Runs of catalogue scripts on a customer's device (SPEC R2): status, exit code, timing and output."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from remote.db import Base, UtcDateTime, new_id

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, TIMED_OUT)


class ScriptRun(Base):
    __tablename__ = "script_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    # The contact the run was for (identity's id, not a foreign key): what a "Mine" scope sees. None for a run
    # asked for no contact in particular, which only the customer's "All" scope and staff see.
    contact_id: Mapped[str | None] = mapped_column(String(36))
    # The asset lives in the assets service; this is its id, not a foreign key.
    asset_id: Mapped[str] = mapped_column(String(36))
    script_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    # None until the agent reports the run finished.
    exit_code: Mapped[int | None]
    # When the run was asked for; the agent may pick it up a little later.
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Unused since 0003 (output is kept in script_run_output chunks); left for the runs recorded before.
    output: Mapped[str] = mapped_column(Text, default="")
    script_id: Mapped[str] = mapped_column(String(36), default="")
    ticket_id: Mapped[str] = mapped_column(String(36), default="")
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    agent_id: Mapped[str] = mapped_column(String(36), default="")
    timeout_seconds: Mapped[int] = mapped_column(default=300)
    # Bytes of output kept (at most the service's max_output_bytes); truncated when more came and was dropped.
    output_size: Mapped[int] = mapped_column(default=0)
    truncated: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str] = mapped_column(String(500), default="")
    # The run asked for a new ticket (SPEC X2): ticket_id was chosen here, and tickets opens that ticket when the
    # run's ScriptRunFinished event arrives.
    new_ticket: Mapped[bool] = mapped_column(default=False)
    # The device's name when the run was asked for (from assets' GetAsset), for the new ticket's subject and note.
    asset_name: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out')", name="status"),
        # A customer's runs newest first with the keyset tie-breaker: one (backward) index range per page.
        Index("ix_script_runs_customer_started", "customer_id", "started_at", "id"),
        # The same for one contact's runs (the Mine scope).
        Index("ix_script_runs_customer_contact_started", "customer_id", "contact_id", "started_at", "id"),
        Index("ix_script_runs_status_started", "status", "started_at"),
    )


class ScriptRunOutput(Base):
    """One chunk of a run's output as the agent sent it, at its byte offset in the whole output."""

    __tablename__ = "script_run_output"

    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("script_runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
