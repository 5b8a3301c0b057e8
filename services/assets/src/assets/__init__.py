"""Assets service: assets, sites, documents, credentials."""
