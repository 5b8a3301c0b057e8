"""Schemathesis over the whole OpenAPI description of the JSON API, against the session's stack.

Every operation the gateway describes is loaded from /api/v1/openapi.json; each GET operation is called with data
that Schemathesis generates, both schema-conforming (positive) and breaking the schema (negative: a bad query or path
parameter must be a 400 problem), once with a customer's token (ACME's demo user) and once with a staff token, and
every answer is checked: no 5xx (`not_a_server_error`), the status code is one the
operation lists (`status_code_conformance`), the content type is one it lists for that status
(`content_type_conformance`), and the body matches the listed schema (`response_schema_conformance`).

Writes: besides every GET, only the POST, PUT, PATCH and DELETE operations whose every path parameter is an id
(`{ticket_id}`, `{customer_id}`, ...) are called, with fewer cases (WRITE_EXAMPLES). The stack's ids are UUIDs, so
a generated id names no row of the shared stack: those calls can only be refused (400 for a bad body, 403, 404)
and change nothing that the other tests read. The other writes (creating tickets, users, payments, sessions;
settings without an id) are not called, since they would change the shared stack or count against its sign-in
limits; they are still loaded, so a schema Schemathesis cannot read fails here too, and counted in the totals.

Bounded: at most EXAMPLES (GET) or WRITE_EXAMPLES cases per operation, mode and token (Hypothesis, no shrinking, no
example database); about 2,300 calls, 60-80 s on the 2-core machine. It prints its totals: operations, calls, the
status codes answered, failures.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.helpers import ACME, api, api_sign_in

EXAMPLES = 5
WRITE_EXAMPLES = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def tokens(stack) -> dict[str, str]:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return {"customer": api_sign_in(stack, ACME.login, ACME.password), "staff": r.json()["session_token"]}


def test_every_operation_answers_as_its_openapi_says(stack, tokens) -> None:  # noqa: ANN001
    document = httpx.get(f"{stack.gateway_url}/api/v1/openapi.json", timeout=15).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]  # .ok() raises on an unreadable operation
    gets = [op for op in operations if op.method.upper() == "GET"]
    writes = [op for op in operations if op.method.upper() != "GET" and _ids_only(op.path)]
    assert len(gets) >= 40, f"only {len(gets)} GET operations in the OpenAPI description"

    session = requests.Session()
    calls: Counter[str] = Counter()
    failures: dict[str, str] = {}
    started = time.monotonic()
    for operation in gets + writes:
        examples = EXAMPLES if operation in gets else WRITE_EXAMPLES
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, mode, examples, stack.gateway_url, tokens, session, calls, failures)
    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis: {len(operations)} operations described; called {len(gets)} GET and {len(writes)} writes on "
        f"ids: {sum(calls[w] for w in tokens)} calls ({ {w: calls[w] for w in tokens} }) in {elapsed:.0f}s, "
        f"answers {sorted((k, v) for k, v in calls.items() if isinstance(k, int))}, {len(failures)} failing"
    )
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))
    landed = sorted(k for k in calls if isinstance(k, str) and " answered " in k)
    assert landed == [], f"writes on generated ids must be refused: {landed}"


def _ids_only(path: str) -> bool:
    """A path with parameters, every one of them an id."""
    params = re.findall(r"{([^}]+)}", path)
    return bool(params) and all(p.endswith("_id") for p in params)


def _exercise(
    operation, mode, examples: int, base_url: str, tokens: dict[str, str], session, calls: Counter, failures: dict
) -> None:  # noqa: ANN001
    """Up to `examples` generated cases of one operation in one mode, each sent with every token and checked."""
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:  # noqa: ANN001
        for who, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
            calls[who] += 1
            calls[response.status_code] += 1
            if operation.method.upper() != "GET" and response.status_code < 300:
                calls[f"{label} as {who} answered {response.status_code}"] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (AssertionError, BaseExceptionGroup) as exc:  # a failed check, or a group of them
                lines = [line for line in str(exc).strip().splitlines() if line.strip()]
                failures.setdefault(f"{label} as {who}", f"{response.status_code}: " + " / ".join(lines[:8]))

    run()
