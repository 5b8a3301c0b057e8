"""Edge gateway: portal pages, staff console and JSON API."""
