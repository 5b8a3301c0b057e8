"""Demo devices with a running agent each, and two demo scripts (issue 14), made as staff would through the gateway's
staff JSON API: the devices are assets of the first demo customer, whose remote access is turned on; each gets a
one-time enrolment token (`POST /api/v1/staff/assets/{asset_id}/enrolment-tokens`) and a `portal-agent` enrolled
with it and then run by the stack (state under <var>/agents/<device>), so the demo has online assets.

Runs on every `make run`, not only the first: what exists is found and kept (an agent already enrolled is only run
again). A missing route or program fails with a SeedError that says what is missing; it is never skipped silently.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from portal_local.seed.identity import DEMO_CUSTOMERS
from portal_local.seed.rpc import SeedError
from portal_local.seed.staff_api import StaffApi, items, signed_in
from portal_local.seed.staff_api import customer_id as customer_id_of
from portal_local.stack import Stack, StackError

ENROLMENT_MINUTES = 30


@dataclass(frozen=True)
class DemoDevice:
    slug: str  # <var>/agents/<slug>, and the agent process's name agent-<slug>
    name: str
    asset_type: str


@dataclass(frozen=True)
class DemoScript:
    name: str
    body: str
    portal: bool
    portal_name: str = ""
    portal_confirmation: str = ""
    variables: tuple[dict, ...] = ()
    timeout_seconds: int = 60


DEMO_DEVICES: tuple[DemoDevice, ...] = (
    DemoDevice("front-desk-pc", "Front desk PC", "Desktop"),
    DemoDevice("reception-laptop", "Reception laptop", "Laptop"),
)
# The customer whose devices they are: the first demo customer (its portal login sees and runs them).
DEVICES_CUSTOMER = DEMO_CUSTOMERS[0]

DEMO_SCRIPTS: tuple[DemoScript, ...] = (
    DemoScript(
        name="Check disk space",
        body="df -h\n",
        portal=True,
        portal_name="Check free disk space",
        portal_confirmation="This lists the disks of the device and how full they are. It changes nothing.",
    ),
    DemoScript(
        name="Ping a host",
        # The variable arrives as an environment variable, never pasted into the script. Some systems (containers)
        # have no ping: the host is then only looked up.
        body=(
            'if command -v ping >/dev/null 2>&1; then ping -c 4 -- "$HOST"\n'
            'else echo "ping is not installed here; looking $HOST up instead"; getent hosts -- "$HOST"; fi\n'
        ),
        portal=False,
        variables=({"name": "HOST", "label": "Host name or address", "default_value": "127.0.0.1", "required": True},),
        timeout_seconds=30,
    ),
)


@dataclass(frozen=True)
class DemoDevicesResult:
    customer: str
    devices: tuple[str, ...]  # names of the devices with a running agent
    scripts: tuple[str, ...]


def seed_remote(stack: Stack) -> DemoDevicesResult:
    """Make (or find) the demo devices and scripts and start one agent per device; raises SeedError."""
    api = signed_in(stack, "demo devices")
    demo = DEVICES_CUSTOMER
    customer_id = customer_id_of(api, demo)
    _enable_remote_access(api, customer_id)

    scripts = _ensure_scripts(api)
    running = []
    for device in DEMO_DEVICES:
        asset_id = _ensure_asset(api, customer_id, device)
        state = stack.var_dir / "agents" / device.slug
        name = f"agent-{device.slug}"
        if name in stack.processes and stack.processes[name].running:
            running.append(device.name)
            continue
        token = ""
        if not (state / "agent.json").exists():
            minted = api.call(
                "POST", f"/api/v1/staff/assets/{asset_id}/enrolment-tokens", {"valid_minutes": ENROLMENT_MINUTES}
            )
            assert isinstance(minted, dict)
            token = minted["token"]
        try:
            stack.start_agent(Path(state), token, name=name)
        except StackError as exc:
            raise SeedError(f"demo devices: the agent of {device.name} did not start: {exc}") from None
        running.append(device.name)
    return DemoDevicesResult(demo.business_name, tuple(running), scripts)


def _enable_remote_access(api: StaffApi, customer_id: str) -> None:
    """Remote access on (SPEC C3) through `PUT /api/v1/staff/customers/{id}`, which replaces the record: send it
    back as read, with only the setting changed."""
    path = f"/api/v1/staff/customers/{customer_id}"
    record = api.call("GET", path)
    assert isinstance(record, dict)
    if record["settings"].get("remote_access_enabled"):
        return
    body = {
        k: record[k]
        for k in ("business_name", "first_name", "last_name", "email", "notes", "phones", "addresses", "parent_id")
        if k in record
    }
    body["custom_fields"] = [{"field_id": a["field_id"], "value": a["value"]} for a in record.get("custom_fields", [])]
    body["settings"] = {**record["settings"], "remote_access_enabled": True}
    api.call("PUT", path, body)


def _ensure_asset(api: StaffApi, customer_id: str, device: DemoDevice) -> str:
    query = urllib.parse.urlencode({"q": device.name})
    for asset in items(api.call("GET", f"/api/v1/staff/customers/{customer_id}/assets?{query}"), api.what):
        if asset.get("name") == device.name:
            return asset["id"]
    made = api.call(
        "POST",
        f"/api/v1/staff/customers/{customer_id}/assets",
        {"name": device.name, "asset_type": device.asset_type, "notes": "Demo device with a local portal-agent."},
        idempotency_key=f"seed-asset-{device.slug}",
    )
    assert isinstance(made, dict)
    return made["id"]


def _ensure_scripts(api: StaffApi) -> tuple[str, ...]:
    have = {s.get("name") for s in items(api.call("GET", "/api/v1/staff/scripts"), api.what)}
    for script in DEMO_SCRIPTS:
        if script.name in have:
            continue
        api.call(
            "POST",
            "/api/v1/staff/scripts",
            {
                "name": script.name,
                "language": "shell",
                "body": script.body,
                "variables": list(script.variables),
                "timeout_seconds": script.timeout_seconds,
                "portal": script.portal,
                "portal_name": script.portal_name,
                "portal_confirmation": script.portal_confirmation,
            },
            idempotency_key=f"seed-script-{script.name.lower().replace(' ', '-')}",
        )
    return tuple(s.name for s in DEMO_SCRIPTS)
