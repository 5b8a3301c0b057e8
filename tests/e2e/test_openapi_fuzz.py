"""Schemathesis over the whole OpenAPI description of the JSON API, against the session's stack.

Every operation the gateway describes is loaded from /api/v1/openapi.json; each GET operation is called with data
that Schemathesis generates, both schema-conforming (positive) and breaking the schema (negative: a bad query or path
parameter must be a 400 problem), once with a customer's token (ACME's demo user) and once with a staff token, and
every answer is checked: no 5xx (`not_a_server_error`), the status code is one the
operation lists (`status_code_conformance`), the content type is one it lists for that status
(`content_type_conformance`), and the body matches the listed schema (`response_schema_conformance`).

Writes: only GET operations are called, since every other write changes the shared stack that the other tests
read (new tickets, users, payments, deleted rows) or counts against its sign-in limits. The non-GET operations are
still loaded, so a schema Schemathesis cannot read fails here too, and are counted in the totals it prints.

Bounded: at most EXAMPLES cases per operation, mode and token (Hypothesis, no shrinking, no example database); the whole
run takes about a minute on the 2-core machine. It prints its totals: operations, calls, failures.
"""

from __future__ import annotations

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

EXAMPLES = 6
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
    assert len(gets) >= 40, f"only {len(gets)} GET operations in the OpenAPI description"

    session = requests.Session()
    calls: Counter[str] = Counter()
    failures: dict[str, str] = {}
    started = time.monotonic()
    for operation in gets:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, mode, stack.gateway_url, tokens, session, calls, failures)
    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis: {len(operations)} operations described, {len(gets)} GET called, "
        f"{sum(calls.values())} calls ({dict(calls)}) in {elapsed:.0f}s, {len(failures)} failing"
    )
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))


def _exercise(operation, mode, base_url: str, tokens: dict[str, str], session, calls: Counter, failures: dict) -> None:  # noqa: ANN001
    """Up to EXAMPLES generated cases of one operation in one mode, each sent with every token and checked."""
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @settings(
        max_examples=EXAMPLES,
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
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (AssertionError, BaseExceptionGroup) as exc:  # a failed check, or a group of them
                lines = [line for line in str(exc).strip().splitlines() if line.strip()]
                failures.setdefault(f"{label} as {who}", f"{response.status_code}: " + " / ".join(lines[:8]))

    run()
