"""Customer documents (SPEC A4): files on a customer, public (shown in its portal) or internal (staff only)."""
