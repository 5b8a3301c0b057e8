"""The staff console's pages under /staff: one file per area, mirroring api/staff/, each behind StaffPage
(web/deps.py). Staff sessions live in their own cookie, scoped to /staff."""
