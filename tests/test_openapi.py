"""/api/v1/openapi.json describes every route under /api/ and is a valid OpenAPI 3.1 document."""
import re

from openapi_spec_validator import validate

from tests.helpers import submit, wait_for_status

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def openapi_path(rule):
    """/api/v1/tryon/status/<job_id> -> /api/v1/tryon/status/{jobId}"""
    def camel(match):
        head, *rest = match.group(1).split(":")[-1].split("_")
        return "{" + head + "".join(word.title() for word in rest) + "}"
    return re.sub(r"<([^>]+)>", camel, rule)


def api_routes(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            for method in rule.methods - IGNORED_METHODS:
                routes.add((openapi_path(rule.rule), method.lower()))
    return routes


def documented_routes(document):
    return {(path, method) for path, operations in document["paths"].items()
            for method in operations}


def test_every_api_route_is_described_and_nothing_else(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert api_routes(app) == documented_routes(document)


def test_the_document_is_valid_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_webhook_is_described_with_the_headers_we_send(client):
    webhook = client.get("/api/v1/openapi.json").get_json()["webhooks"]["jobFinished"]["post"]
    headers = {p["name"] for p in webhook["parameters"] if p["in"] == "header"}
    # The names tryon/queue/webhooks.py sends.
    assert headers == {"Tryon-Signature", "Tryon-Event", "Tryon-Delivery"}


def test_the_server_url_is_this_servers_base_url(make_app):
    app = make_app(PUBLIC_BASE_URL="https://tryon.example.com")
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["servers"] == [{"url": "https://tryon.example.com"}]


def test_the_document_needs_no_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_every_keyed_operation_documents_401(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") != []:
                assert "401" in operation["responses"], (path, method)


def test_the_status_schema_names_every_field_the_api_returns(make_app, make_user):
    app = make_app(start_worker=True, RESULT_DELIVERY="both")
    client = app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["JobStatus"]
    assert set(body) <= set(schema["properties"])
    assert set(schema["required"]) <= set(body)


def test_every_operation_documents_the_refusals_for_size(client):
    # gunicorn refuses an overlong request line or header before any route is chosen.
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"414", "431"} <= set(operation["responses"]), (path, method)
