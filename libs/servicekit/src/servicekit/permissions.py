"""The portal permission catalogue (SPEC P5): one place every service and the gateway read it from."""

from __future__ import annotations

ACCOUNT_OVERVIEW_VIEW = "account_overview.view"
PAYMENT_OPTIONS_MANAGE = "payment_options.manage"
PRIVACY_SETTINGS_MANAGE = "privacy_settings.manage"
TICKETS_VIEW_ALL = "tickets.view_all"
TICKETS_VIEW_MINE = "tickets.view_mine"
TICKETS_CREATE = "tickets.create"
TICKETS_STATUS_FILTERS = "tickets.status_filters"
INVOICES_VIEW_ALL = "invoices.view_all"
INVOICES_VIEW_MINE = "invoices.view_mine"
INVOICES_PAY_ONLINE = "invoices.pay_online"
PAYMENTS_VIEW_ALL = "payments.view_all"
PAYMENTS_VIEW_MINE = "payments.view_mine"
ESTIMATES_VIEW_ALL = "estimates.view_all"
ESTIMATES_VIEW_MINE = "estimates.view_mine"
ATTACHMENTS_VIEW_PUBLIC = "attachments.view_public"
ASSETS_VIEW_ALL = "assets.view_all"
ASSETS_VIEW_MINE = "assets.view_mine"
ASSETS_RUN_SCRIPT = "assets.run_script"
CREDENTIALS_VIEW_ALL = "credentials.view_all"
CREDENTIALS_VIEW_MINE = "credentials.view_mine"
KNOWLEDGE_BASE_VIEW = "knowledge_base.view"
DOCUMENTS_UPLOAD = "documents.upload"

# Display labels, in the catalogue's order, as SPEC names them.
CATALOGUE: dict[str, str] = {
    ACCOUNT_OVERVIEW_VIEW: "Account Overview - View",
    PAYMENT_OPTIONS_MANAGE: "Stored Payment Options - Manage",
    PRIVACY_SETTINGS_MANAGE: "Privacy Settings - Manage",
    TICKETS_VIEW_ALL: "Tickets - View All",
    TICKETS_VIEW_MINE: "Tickets - View Mine",
    TICKETS_CREATE: "Tickets - Create New",
    TICKETS_STATUS_FILTERS: "Tickets - Show Status Filters",
    INVOICES_VIEW_ALL: "Invoices - View All",
    INVOICES_VIEW_MINE: "Invoices - View Mine",
    INVOICES_PAY_ONLINE: "Invoices - Pay Online",
    PAYMENTS_VIEW_ALL: "Payments - View All",
    PAYMENTS_VIEW_MINE: "Payments - View Mine",
    ESTIMATES_VIEW_ALL: "Estimates - View All",
    ESTIMATES_VIEW_MINE: "Estimates - View Mine",
    ATTACHMENTS_VIEW_PUBLIC: "Attachments - View Public",
    ASSETS_VIEW_ALL: "Assets - View All",
    ASSETS_VIEW_MINE: "Assets - View Mine",
    ASSETS_RUN_SCRIPT: "Assets - Run Script",
    CREDENTIALS_VIEW_ALL: "Credentials - View All",
    CREDENTIALS_VIEW_MINE: "Credentials - View Mine",
    KNOWLEDGE_BASE_VIEW: "Knowledge Base - View",
    DOCUMENTS_UPLOAD: "Documents - Upload",
}

ADMIN_PORTAL_GROUP = "Admin Portal Group"
NON_PORTAL_USER_GROUP = "Non-Portal User Group"

BUILT_IN_GROUPS: dict[str, frozenset[str]] = {
    ADMIN_PORTAL_GROUP: frozenset(CATALOGUE),
    NON_PORTAL_USER_GROUP: frozenset({TICKETS_VIEW_MINE}),
}
