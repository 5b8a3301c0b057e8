"""Identity service: customers, contacts, users, sessions, principals, mail."""
