"""/docs: the whole API documentation, with this server's base URL in the examples."""
import html
import re

import pytest

from tryon import errors
from tryon.web import doc_examples

PLACEHOLDER_DOMAIN = doc_examples.PLACEHOLDER_DOMAIN
BASE_URL = "https://tryon.example.com"


@pytest.fixture
def docs_page(make_app):
    app = make_app(PUBLIC_BASE_URL=BASE_URL)
    response = app.test_client().get("/docs")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def shown_example(page, name):
    code = re.search(rf'<code[^>]*data-example="{name}">(.*?)</code>', page, re.S).group(1)
    return html.unescape(code)


@pytest.mark.parametrize("name", ["js", "python", "curl"])
def test_examples_are_the_working_ones_with_this_servers_url(docs_page, name):
    shown = shown_example(docs_page, name)
    assert PLACEHOLDER_DOMAIN not in shown and shown.count(BASE_URL) == 2
    assert shown.replace(BASE_URL, PLACEHOLDER_DOMAIN).strip() == \
        doc_examples.source(name).strip()


def test_examples_read_the_field_we_return(docs_page):
    assert "statusData.resultImageUrl" in shown_example(docs_page, "js")
    assert "status_data['resultImageUrl']" in shown_example(docs_page, "python")


def test_the_page_documents_both_endpoints_and_every_error_code(docs_page):
    for text in ("POST</span> /api/v1/tryon", "GET</span> /api/v1/tryon/status/{jobId}",
                 "Authorization: Bearer", "person_images", "garment_images", "202 Accepted",
                 "402 Payment Required", "403 Forbidden", "imageBase64", "statusUrl",
                 "/api/v1/openapi.json"):
        assert text in docs_page, text
    for code in errors.JOB_ERROR_CODES:
        assert f"<code>{code}</code>" in docs_page, code


def test_without_a_configured_base_url_the_requests_host_is_used(client):
    page = client.get("/docs", base_url="http://tryon.internal:8080").get_data(as_text=True)
    assert "http://tryon.internal:8080/api/v1/tryon" in page


@pytest.mark.parametrize("days, expected", [(30, "more than\n       30 days ago are deleted"),
                                            (0, "it deletes none by age")])
def test_the_retention_note_follows_the_setting(make_app, days, expected):
    page = make_app(RETENTION_DAYS=days).test_client().get("/docs").get_data(as_text=True)
    assert expected in page
