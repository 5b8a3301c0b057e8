"""The staff JSON API under /api/v1/staff: one file per area, each behind StaffApiSession (api/deps.py)."""
