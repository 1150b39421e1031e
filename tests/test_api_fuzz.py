"""Schemathesis fuzzes every operation of the OpenAPI schema, as a project admin and as a labeller.

The checks: no answer is a server error (5xx), and every answer conforms to the schema (a
documented status, a documented content type, a body of the documented shape). The run is
bounded and deterministic: a fixed number of cases per operation and role (FUZZ_EXAMPLES),
Hypothesis derandomised, no example database. It calls the WSGI application in-process against
the test database, seeded (tests/fuzz_seed.py) with a project whose images, crops, annotations,
predictions, jobs and model versions (one with a weights file) give the requests real objects.

Half the cases of an operation with ids in its path use the seeded objects' ids (else nearly all
would be 404s); the rest are schemathesis' own, valid and invalid. Jobs are only queued (the
thread holds dispatch, active_learning.jobs.run_by_caller), so nothing trains or predicts. No
operation is left out: a DELETE of the seeded member only empties that role's later member cases.

The longer run outside CI (>= 10,000 cases, a live server): scripts/fuzz_api.py, docs/security.md.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from active_learning.jobs import run_by_caller
from tests.fuzz_seed import ROLES, seed_fuzz_data

# Cases per operation and role: 47 operations x 10 = about 470 requests per role, under a minute
# on 2 busy cores. FUZZ_EXAMPLES=60 (about 6 minutes) for a closer look without the live server.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = pytest.mark.slow


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests through the WSGI handler inside the test's transaction: Django would otherwise
    close the connection (and roll back the seeded data) at each request's start and end, as its
    own test client also prevents."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with run_by_caller():
            yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _cases(operation: Any, ids: dict[str, int]) -> st.SearchStrategy[Any]:
    """Schemathesis' cases for the operation, half of them aimed at the seeded objects."""
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    generated = [operation.as_strategy(generation_mode=mode) for mode in modes]
    names = [p.name for p in operation.path_parameters]
    if names and all(name in ids for name in names):
        seeded = {name: ids[name] for name in names}
        generated += [operation.as_strategy(generation_mode=mode, path_parameters=seeded) for mode in modes]
    return st.one_of(generated)


def _describe(exc: BaseException) -> str:
    """A failure in a few lines: schemathesis' text holds the response and a curl command to repeat it."""
    return f"{type(exc).__name__}: {str(exc)[:1500]}"


def _fuzz(operation: Any, token: str, ids: dict[str, int], statuses: Counter[str]) -> list[str]:
    """Run the operation's cases, counting the statuses answered; the failures as text."""
    failures: list[str] = []
    headers = {"Authorization": f"Token {token}"}

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=["explicit", "generate"])
    @given(case=_cases(operation, ids))
    def run(case: Any) -> None:
        try:
            response = case.call(headers=headers)
            statuses[f"{operation.label} {response.status_code}"] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # collect every failure, then report them all
            failures.append(f"{operation.label}: {_describe(exc)}")

    run()
    return failures


@pytest.mark.parametrize("role", ROLES)
def test_no_operation_answers_a_server_error_or_off_the_schema(role, db, in_process_requests):
    seeded = seed_fuzz_data()
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler(),
                                            headers={"Authorization": f"Token {seeded.tokens['admin']}"})
    failures: list[str] = []
    statuses: Counter[str] = Counter()
    for result in schema.get_all_operations():
        failures += _fuzz(result.ok(), seeded.tokens[role], seeded.ids, statuses)
    print(f"{role}: {sum(statuses.values())} requests;", dict(sorted(statuses.items())))
    assert not failures, "\n\n".join(failures)
