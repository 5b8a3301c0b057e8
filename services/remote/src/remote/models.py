"""Every remote model, imported once so that Base.metadata holds every table (migrations, customer data)."""

from remote.access_requests.models import AccessRequest
from remote.agents.models import Agent, EnrolmentToken
from remote.customers.models import CustomerSettings
from remote.script_runs.models import ScriptRun, ScriptRunOutput
from remote.scripts.models import IdempotencyKey, Script
from remote.sessions.models import RemoteSession

__all__ = [
    "AccessRequest",
    "Agent",
    "CustomerSettings",
    "EnrolmentToken",
    "IdempotencyKey",
    "RemoteSession",
    "Script",
    "ScriptRun",
    "ScriptRunOutput",
]
