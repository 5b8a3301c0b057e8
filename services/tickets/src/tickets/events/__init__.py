"""The tickets service's events: `publish` writes what it publishes to the outbox, `handlers` consumes others'."""
