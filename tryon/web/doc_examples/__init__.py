"""The code examples of the API documentation, as published for the hosted service (only
line breaks restored), with its placeholder domain.

/docs shows them with this server's base URL in place of PLACEHOLDER_DOMAIN, and
tests/test_doc_examples.py runs these same files against a live server, so the page only
ever shows examples that are known to work.
"""
from importlib import resources

PLACEHOLDER_DOMAIN = "https://your-domain.com"
FILES = {"js": "generate_tryon.js", "python": "generate_tryon.py", "curl": "submit_and_status.sh"}


def source(name):
    """The example as published (`name`: js, python or curl)."""
    return resources.files(__name__).joinpath(FILES[name]).read_text(encoding="utf-8")


def for_server(name, base_url):
    """The example with `base_url` in place of the placeholder domain."""
    return source(name).replace(PLACEHOLDER_DOMAIN, base_url.rstrip("/"))
