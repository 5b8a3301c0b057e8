"""Tickets service: tickets, comments, knowledge base."""
