"""What test code passes to the httpx clients it makes by the thousand.

httpx builds an SSL context and loads its CA bundle for every client it makes (about 20 ms of CPU each), even for
a client that only ever speaks plain HTTP to loopback, as the tests' clients do. `TLS` is that same default
context, built once: `httpx.Client(..., verify=TLS)`.
"""

from __future__ import annotations

import httpx

TLS = httpx.create_ssl_context()
