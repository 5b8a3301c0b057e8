"""Single-machine mode behind make run: NATS, SMTP catcher, services, gateway, demo data.

Nothing is re-exported here, so `python -m portal_local.mailcatcher` imports no gRPC: import `portal_local.stack`,
`portal_local.seed` … by name."""
