"""/files/<objectKey>: signed, time-limited, and unable to leave the object store."""
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tryon import services
from tryon.store.objects import EXPIRY_STEP_SECONDS, InvalidKey, ObjectStore, UrlSigner


@pytest.fixture
def stored(app):
    services.of(app).store.put("results/abc.png", b"\x89PNG fake")
    return services.of(app).signer.signed_path("results/abc.png")


def parts(path):
    url = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    return url.path, query["expires"], query["signature"]


def test_valid_link_serves_the_file(client, stored):
    response = client.get(stored)
    assert response.status_code == 200
    assert response.data == b"\x89PNG fake"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("tamper", ["key", "expires", "signature", "no-signature", "no-expires"])
def test_tampered_links_are_403(client, stored, tamper):
    path, expires, signature = parts(stored)
    if tamper == "key":
        path = path.replace("abc", "abd")
    elif tamper == "expires":
        expires = str(int(expires) - 1)
    elif tamper == "signature":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    query = {"expires": expires, "signature": signature}
    query.pop({"no-signature": "signature", "no-expires": "expires"}.get(tamper, ""), None)
    response = client.get(path, query_string=query)
    assert response.status_code == 403
    assert response.get_json()["errorCode"] == "INVALID_SIGNATURE"


def test_expired_and_far_future_links_are_refused():
    signer = UrlSigner("secret", ttl_seconds=60)
    key = "results/abc.png"
    now = time.time()
    past = int(now) - 1
    assert not signer.verify(key, str(past), signer.signature(key, past), now=now)
    far = int(now) + 10_000
    assert not signer.verify(key, str(far), signer.signature(key, far), now=now)
    soon = int(now) + 30
    assert signer.verify(key, str(soon), signer.signature(key, soon), now=now)
    assert not signer.verify(key, f"{soon}.0", signer.signature(key, soon), now=now)


def test_expiry_is_the_ttl_rounded_up_to_a_step():
    signer = UrlSigner("secret", ttl_seconds=60)
    for now in (1000.0, 1000.5, 1009.9, 1010.0):
        expires = signer.expiry(now)
        assert now + 60 <= expires < now + 60 + EXPIRY_STEP_SECONDS
        assert expires % EXPIRY_STEP_SECONDS == 0
        assert signer.verify("k", str(expires), signer.signature("k", expires), now=now)
    assert signer.expiry(1000.5) == signer.expiry(1009.0)   # one URL for the whole step


def test_links_expire(client, app, stored):
    path, expires, signature = parts(stored)
    signer = services.of(app).signer
    assert signer.verify(path.removeprefix("/files/"), expires, signature)
    later = int(expires) + 1
    assert not signer.verify(path.removeprefix("/files/"), expires, signature, now=later)


def test_links_signed_with_another_secret_are_refused(client, stored):
    other = UrlSigner("another secret", ttl_seconds=3600)
    assert client.get(other.signed_path("results/abc.png")).status_code == 403


@pytest.mark.parametrize("key", [
    "../secret_key", "results/../../secret_key", "results/..", "/etc/passwd",
    "results/%2e%2e/x", "results\\..\\x", "RESULTS/x.png", "results/.hidden", "results//x.png",
    "results/x.png/../../../tryon.sqlite3", "",
])
def test_store_refuses_keys_that_could_escape(tmp_path, key):
    store = ObjectStore(tmp_path)
    with pytest.raises(InvalidKey):
        store.path_for(key)


@pytest.mark.parametrize("path", [
    "/files/../instance/secret_key", "/files/%2e%2e/secret_key", "/files/..%2fsecret_key",
    "/files/results/..%2F..%2Fsecret_key", "/files/results%2f..%2f..%2fsecret_key",
])
def test_traversal_urls_never_serve_files(client, app, path):
    signer = services.of(app).signer
    key = path.removeprefix("/files/")
    expires = int(time.time()) + 60
    response = client.get(path, query_string={"expires": expires,
                                              "signature": signer.signature(key, expires)})
    assert response.status_code in (403, 404)
    assert b"test-secret" not in response.data


def test_missing_object_with_valid_signature_is_404(client, app):
    path = services.of(app).signer.signed_path("results/gone.png")
    response = client.get(path)
    assert response.status_code == 404
