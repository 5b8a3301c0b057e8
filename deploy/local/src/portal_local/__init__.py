"""Single-machine mode behind make run: NATS, SMTP catcher, services, gateway, demo data."""
