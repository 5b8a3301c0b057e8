"""What every request goes through, whatever its area: errors, health, middleware, CSRF, sessions, metrics."""
