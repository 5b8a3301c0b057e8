"""What every portal service stands on: settings, database, gRPC server, principals, events, telemetry."""
