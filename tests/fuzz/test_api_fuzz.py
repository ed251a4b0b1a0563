"""Schemathesis over every operation of the OpenAPI document, against a live `gureum up`.

It asserts two things only: no answer is a 5xx, and every 4xx has a body in the
error format of the service that gave it (keystone's JSON, glance's webob JSON/HTML).
Each operation is its own test, fed valid and invalid cases (schemathesis' positive
and negative generation), bounded and derandomized so CI runs the same cases each time.

schemathesis' own pytest plugin (`schemathesis.pytest.from_fixture`) cannot run under
pytest 9 (it writes `Node._nodeid`, which pytest 9 removed), so the operations are
parametrized here and each runs a plain Hypothesis test over `operation.as_strategy`.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gureum.testing import RunningCloud

from .fuzzkit import document_from_routes, error_format_problem, seeded, service_of

pytestmark = pytest.mark.slow  # a few minutes on 2 cores; still part of CI

MAX_EXAMPLES = 25

SCHEMA = schemathesis.openapi.from_dict(document_from_routes())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def in_service_error_format(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx carries the service's error body (HEAD answers have none)."""
    if case.method.upper() == "HEAD":
        return None
    accept = str((case.headers or {}).get("Accept", ""))
    headers = {k.lower(): (v[0] if isinstance(v, list) else v) for k, v in response.headers.items()}
    problem = error_format_problem(service_of(case.operation.path), response.status_code, headers,
                                   response.content or b"", "application/json" in accept)
    if problem:
        raise AssertionError(problem)
    return None


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_operation(operation: Any, fuzz_cloud: RunningCloud, admin_token: str,
                   fuzz_ids: dict[str, list[str]]) -> None:
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def fuzz(case: Any) -> None:
        for name, value in list((case.path_parameters or {}).items()):
            case.path_parameters[name] = seeded(name, value, fuzz_ids)
        # Negative cases may mangle the declared X-Auth-Token; a 401 tells nothing, so always send a good one.
        case.headers = {**(case.headers or {}), "X-Auth-Token": admin_token}
        response = case.call(base_url=fuzz_cloud.base_url, timeout=60)
        case.validate_response(response, checks=[not_a_server_error, in_service_error_format],
                               headers={"X-Auth-Token": admin_token})

    fuzz()
