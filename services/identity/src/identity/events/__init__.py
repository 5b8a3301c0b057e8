"""Identity's events: `publish` builds what identity publishes (through the outbox); `handlers` consumes other
services' events. Kept apart so that domain code can publish without importing the handlers' dependencies."""
