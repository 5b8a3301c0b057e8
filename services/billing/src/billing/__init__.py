"""Billing service: invoices, estimates, payments."""
