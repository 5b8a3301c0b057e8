"""Staff accounts and roles (SPEC S1). Every route here is under the staff prefixes (portal sessions are refused,
test_coverage); which staff role opens which route is checked by test_staff_roles.py against STAFF_ROLE_ROUTES.

The staff invitation page and the second step of a staff sign-in come before a staff session exists: the emailed
token, or the pending session's token, is the credential (identity checks it)."""

from __future__ import annotations

PUBLIC = {
    ("GET", "/staff/invitation"),
    ("POST", "/staff/invitation"),
    ("GET", "/staff/invitation/done"),
    ("GET", "/staff/mfa"),
    ("POST", "/staff/mfa"),
    ("GET", "/staff/mfa/enrol"),
    ("POST", "/staff/mfa/enrol"),
}

ROUTES: list = []

ADMIN, TECHNICIAN = "admin", "technician"

_BUILT_IN = ("New", "In Progress", "Waiting on Customer", "Scheduled", "Resolved", "Closed")
BUILT_IN_STATUSES = [{"name": n, "closed": n in ("Resolved", "Closed")} for n in _BUILT_IN]
BUILT_IN_STATUS_FORM = (
    {"rows": str(len(_BUILT_IN))}
    | {f"name_{i}": n for i, n in enumerate(_BUILT_IN)}
    | {f"closed_{i}": "1" for i, n in enumerate(_BUILT_IN) if n in ("Resolved", "Closed")}
)
# (method, path, who may: ADMIN only or both roles, JSON body or form). "{id}" is a staff member made for the test;
# "{group}" a permission group; "{customer}" a demo customer. Admin-only routes must answer a technician 403; the
# others open for both.
STAFF_ROLE_ROUTES: list[tuple[str, str, tuple[str, ...], dict | None, dict | None]] = [
    # The team: staff management (identity refuses a technician every call).
    ("GET", "/api/v1/staff/staff-users", (ADMIN,), None, None),
    ("POST", "/api/v1/staff/staff-users", (ADMIN,), {"email": "{email}", "role": "technician"}, None),
    ("POST", "/api/v1/staff/staff-users/{id}/invitation", (ADMIN,), {}, None),
    ("PUT", "/api/v1/staff/staff-users/{id}/role", (ADMIN,), {"role": "technician"}, None),
    ("PUT", "/api/v1/staff/staff-users/{id}/active", (ADMIN,), {"active": True}, None),
    ("DELETE", "/api/v1/staff/staff-users/{id}/mfa", (ADMIN,), None, None),
    ("GET", "/staff/team", (ADMIN,), None, None),
    ("POST", "/staff/team/invite", (ADMIN,), None, {"email": "{email}", "name": "", "role": "technician"}),
    ("POST", "/staff/team/{id}/role", (ADMIN,), None, {"role": "technician"}),
    ("GET", "/staff/team/{id}/deactivate", (ADMIN,), None, None),
    ("POST", "/staff/team/{id}/deactivate", (ADMIN,), None, {}),
    ("POST", "/staff/team/{id}/reactivate", (ADMIN,), None, {}),
    ("POST", "/staff/team/{id}/mfa-reset", (ADMIN,), None, {}),
    ("POST", "/staff/team/{id}/invitation", (ADMIN,), None, {}),
    # Permission groups: reading for both, editing for admins.
    ("GET", "/api/v1/staff/permission-groups", (ADMIN, TECHNICIAN), None, None),
    ("POST", "/api/v1/staff/permission-groups", (ADMIN,), {"name": "{name}"}, None),
    ("PUT", "/api/v1/staff/permission-groups/{group}", (ADMIN,), {"name": "{name}", "permissions": []}, None),
    ("DELETE", "/api/v1/staff/permission-groups/{group}", (ADMIN,), None, None),
    # Portal settings and portal controls (branding, off switch, renewal notice), email templates.
    ("GET", "/api/v1/staff/settings", (ADMIN, TECHNICIAN), None, None),
    ("PUT", "/api/v1/staff/settings", (ADMIN,), {"always_invite_new_customers": False}, None),
    ("PUT", "/api/v1/staff/portal-controls/off-switch", (ADMIN,), {"disabled": False}, None),
    ("PUT", "/api/v1/staff/portal-controls/branding", (ADMIN,), {}, None),
    ("PUT", "/api/v1/staff/portal-controls/renewal-notice", (ADMIN,), {"days": 30}, None),
    # The portal home's layout (H3): both roles read it, admins change it (identity decides, on staff_role). The
    # changes here store the default layout, which other tests expect.
    ("GET", "/api/v1/staff/home-layout", (ADMIN, TECHNICIAN), None, None),
    ("PUT", "/api/v1/staff/home-layout", (ADMIN,), {"items": [], "default_scope": "all"}, None),
    ("DELETE", "/api/v1/staff/home-layout", (ADMIN,), None, None),
    ("GET", "/staff/settings/home", (ADMIN, TECHNICIAN), None, None),
    ("POST", "/staff/settings/home/move", (ADMIN,), None, {"key": "no-such-key", "direction": "up"}),
    ("POST", "/staff/settings/home/reset", (ADMIN,), None, {}),
    (
        "PUT",
        "/api/v1/staff/email-templates/login_details/en",
        (ADMIN,),
        {"subject": "Your login", "body": "Login: {{ login }}"},
        None,
    ),
    ("DELETE", "/api/v1/staff/email-templates/login_details/en", (ADMIN,), None, None),
    # The audit log: admins only. Billing changes: admins only (billing decides, on the principal's staff_role);
    # reading billing stays open to technicians.
    ("GET", "/api/v1/staff/audit-log", (ADMIN,), None, None),
    ("GET", "/staff/audit", (ADMIN,), None, None),
    ("GET", "/staff/groups", (ADMIN, TECHNICIAN), None, None),
    ("POST", "/staff/groups/new", (ADMIN,), None, {"name": "{name}"}),
    (
        "POST",
        "/api/v1/staff/invoices",
        (ADMIN,),
        {"customer_id": "{customer}", "lines": [{"description": "Authz", "quantity": "1", "unit_price_minor": 100}]},
        None,
    ),
    (
        "POST",
        "/api/v1/staff/customers/{customer}/store-credit",
        (ADMIN,),
        {"amount_minor": 100, "currency": "USD", "reference": "authz"},
        None,
    ),
    ("GET", "/api/v1/staff/invoices", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/staff/customers/{customer}/billing", (ADMIN, TECHNICIAN), None, None),
    # The ticket settings: reading for both, changing for admins (tickets decides, on staff_role).
    ("GET", "/api/v1/staff/ticket-settings", (ADMIN, TECHNICIAN), None, None),
    ("PUT", "/api/v1/staff/ticket-settings", (ADMIN,), {"default_assignee_id": ""}, None),
    ("GET", "/staff/settings", (ADMIN, TECHNICIAN), None, None),
    ("POST", "/staff/settings", (ADMIN,), None, {"default_assignee": ""}),
    # The ticket status list: the same rule. Admins send the built-in list back unchanged (the stack is shared).
    ("GET", "/api/v1/staff/ticket-statuses", (ADMIN, TECHNICIAN), None, None),
    ("PUT", "/api/v1/staff/ticket-statuses", (ADMIN,), {"statuses": BUILT_IN_STATUSES}, None),
    ("POST", "/staff/settings/statuses", (ADMIN,), None, BUILT_IN_STATUS_FORM),
    ("GET", "/api/v1/staff/directory", (ADMIN, TECHNICIAN), None, None),
    # A technician's work: tickets and customers.
    ("GET", "/staff", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/staff/tickets", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/api/v1/staff/tickets", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/api/v1/staff/customers", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/staff/customers", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/staff/customers/{customer}", (ADMIN, TECHNICIAN), None, None),
    # Creating and editing customers and their contacts: staff work (identity asks for staff, not an admin).
    ("GET", "/staff/customers/new", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/staff/customers/{customer}/edit", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/staff/customers/{customer}/contacts/new", (ADMIN, TECHNICIAN), None, None),
    # Assets and sites: technicians work customers' devices; deleting and importing are admins' (test_staff_assets).
    ("GET", "/api/v1/staff/customers/{customer}/assets", (ADMIN, TECHNICIAN), None, None),
    ("GET", "/api/v1/staff/customers/{customer}/sites", (ADMIN, TECHNICIAN), None, None),
    ("POST", "/api/v1/staff/customers/{customer}/assets", (ADMIN, TECHNICIAN), {"name": "{name}"}, None),
    ("POST", "/api/v1/staff/customers/{customer}/sites", (ADMIN, TECHNICIAN), {"name": "{name}"}, None),
    ("GET", "/staff/customers/{customer}/assets", (ADMIN, TECHNICIAN), None, None),
    ("POST", "/staff/customers/{customer}/sites", (ADMIN, TECHNICIAN), None, {"name": "{name}"}),
    ("POST", "/staff/customers/{customer}/assets", (ADMIN, TECHNICIAN), None, {"name": "{name}"}),
]
