"""Property-based checks of the API against its own OpenAPI document (schemathesis): with a
valid key no generated request gets a 5xx and every response matches the document; without
a key every operation answers 401."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import auth, submit

pytestmark = pytest.mark.slow   # hundreds of generated requests: `make test-fast` leaves it out

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
FAST = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture
def schema(make_app):
    app = make_app(start_worker=True, RATE_LIMIT_SUBMIT="100000 per minute")
    return app, schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def operations(schema):
    found = [result.ok() for result in schema.get_all_operations()]
    assert found, "the OpenAPI document describes no operation"
    return found


def test_every_operation_conforms_with_a_valid_key(schema, make_user):
    app, api = schema
    _, key = make_user(credits=10_000)
    submit(app.test_client(), key)              # so that listings have something to show
    for operation in operations(api):
        @FAST
        @given(case=operation.as_strategy())
        def conforms(case):
            case.call_and_validate(headers=auth(key), checks=CHECKS)

        conforms()


def test_every_operation_needs_a_key(schema):
    _, api = schema
    for operation in operations(api):
        @settings(max_examples=3, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def refused(case):
            case.headers = {name: value for name, value in (case.headers or {}).items()
                            if name.lower() not in ("authorization", "x-api-key")}
            response = case.call()
            assert response.status_code == 401, (case.method, case.path, response.status_code)

        refused()
