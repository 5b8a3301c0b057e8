"""The one bound on an amount of money, shared by the gateway's forms and schemas and the billing service.

Whole minor units up to ten billion in the major unit: far beyond any invoice or payment, and far enough inside
int64 (protobuf's and PostgreSQL's bigint) that a sum of a hundred such amounts cannot overflow either.
"""

from __future__ import annotations

MAX_MINOR = 10**12
TOO_LARGE = f"an amount may be at most {MAX_MINOR} minor units"
