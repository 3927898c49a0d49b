"""Every dashboard page on a 390 px phone screen, and the playground's result links through
a run's life (uploading, processing, completed, failed, rejected), in headless Chromium.

The flow test in test_dashboard_browser.py walks the happy path at desktop width; these
check what it cannot see there: sideways scrolling on small screens, and buttons that must
stay hidden (the `hidden` attribute once lost to `.button{display:inline-flex}`).
"""
import io

import pytest
from PIL import Image

# The same Chromium, its launch, its skip when missing and its slow marker.
from tests.browser.test_dashboard_browser import PASSWORD, WAIT_MS, browser, pytestmark, screenshot  # noqa: F401
from tests.fakes import make_image_bytes
from tests.live import LiveServer
from tryon.store import accounts

PHONE = {"width": 390, "height": 844}
ADMIN, USER = "admin@example.com", "user@example.com"

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A job takes 1.5 s, long enough to look at the page while it is processing.
    live = LiveServer(tmp_path_factory.mktemp("pages"), WORKERS=1,
                      TEST_PROVIDER_DELAY="1.5").start()
    conn = live.connect()
    try:
        for email, is_admin in ((ADMIN, True), (USER, False)):
            accounts.create_user(conn, email, PASSWORD, credits=50, is_admin=is_admin)
    finally:
        conn.close()
    yield live
    live.stop()


def log_in(page, server, email):
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.get_by_role("heading", name="Overview").wait_for()


def new_page(chromium, viewport):
    """A page in a fresh context that fails the test on a script error or CSP violation
    (not on the console's "Failed to load resource" for the 4xx answers these tests want)."""
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error"
            and "Failed to load resource" not in message.text and problems.append(message.text))
    return context, page, problems


@pytest.fixture(params=[PHONE, {"width": 1280, "height": 900}], ids=["phone", "desktop"])
def any_page(browser, request):  # noqa: F811
    context, page, problems = new_page(browser, request.param)
    yield page
    context.close()
    assert problems == [], problems


@pytest.fixture
def phone(browser):  # noqa: F811
    context, page, problems = new_page(browser, PHONE)
    yield page
    context.close()
    assert problems == [], problems


def assert_no_sideways_scroll(page, name):
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"phone-{name}")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways ({width} px)"


def photo_file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def black_photo():
    out = io.BytesIO()
    Image.new("RGB", (512, 640)).save(out, format="JPEG")
    return out.getvalue()


def test_logged_out_pages_fit_a_phone(server, phone):
    for path in ("/login", "/signup", "/docs", "/jobs/does-not-exist"):
        phone.goto(server.url + path)
        assert_no_sideways_scroll(phone, path.strip("/").replace("/", "-"))


def test_every_logged_in_page_fits_a_phone(server, phone):
    log_in(phone, server, ADMIN)
    key_id = _create_key_in_the_browser(phone, server)
    job_id = server.submit_job(_api_key_of(server, ADMIN))
    pages = ["/", "/playground", "/jobs", f"/jobs/{job_id}", "/keys", f"/keys/{key_id}/revoke",
             "/credits", "/admin/", "/docs", "/account/password", "/jobs/does-not-exist"]
    for path in pages:
        phone.goto(server.url + path)
        assert_no_sideways_scroll(phone, path.strip("/").replace("/", "-") or "overview")


def test_error_pages_fit_a_phone_and_lead_back(server, phone):
    log_in(phone, server, USER)
    phone.goto(f"{server.url}/admin/")
    phone.get_by_role("heading", name="Not allowed").wait_for()
    assert_no_sideways_scroll(phone, "403")
    phone.get_by_role("link", name="Back to the overview").click()
    phone.get_by_role("heading", name="Overview").wait_for()


def _create_key_in_the_browser(page, server):
    page.goto(f"{server.url}/keys")
    page.get_by_label("Name").fill("phone")
    page.get_by_role("button", name="Create key").click()
    page.get_by_test_id("new-key").wait_for()
    assert_no_sideways_scroll(page, "keys-new-key")
    conn = server.connect()
    try:
        return conn.execute("SELECT id FROM api_keys WHERE name = 'phone'").fetchone()["id"]
    finally:
        conn.close()


def _api_key_of(server, email):
    conn = server.connect()
    try:
        user = accounts.require_user(conn, email)
        key, _ = accounts.create_api_key(conn, user["id"], "api")
        return key
    finally:
        conn.close()


def run_playground(page, person, garment):
    page.get_by_label("Person photo").set_input_files(person)
    page.get_by_label("Garment photo").set_input_files(garment)
    page.get_by_role("button", name="Try it on").click()


def assert_links_hidden(page):
    for name in ("Download the result", "Job details"):
        link = page.locator("#progress a", has_text=name)
        assert link.is_hidden(), f"“{name}” shows"
        assert link.get_attribute("href") is None, f"“{name}” still points somewhere"


def test_playground_links_show_only_for_a_completed_run(server, any_page, tmp_path):
    page = any_page
    log_in(page, server, USER)
    page.goto(f"{server.url}/playground")
    good = photo_file(tmp_path, "person.jpg", make_image_bytes())
    garment = photo_file(tmp_path, "garment.jpg", make_image_bytes(color=(30, 90, 200)))
    black = photo_file(tmp_path, "black.jpg", black_photo())
    tiny = photo_file(tmp_path, "tiny.jpg", make_image_bytes(size=(20, 20)))
    status = page.locator('#progress [data-field="status"]')

    run_playground(page, good, garment)
    status.filter(has_text="processing").wait_for()
    assert_links_hidden(page)
    screenshot(page, "playground-processing")
    status.filter(has_text="completed").wait_for()
    download = page.get_by_role("link", name="Download the result")
    details = page.get_by_role("link", name="Job details")
    assert download.is_visible() and details.is_visible()
    first_job_url = details.get_attribute("href")

    # A failed job after a good one: no link may point at the previous job.
    run_playground(page, black, garment)
    status.filter(has_text="processing").wait_for()
    assert_links_hidden(page)
    status.filter(has_text="failed").wait_for()
    page.get_by_text("INVALID_PERSON_IMAGE").wait_for()
    assert_links_hidden(page)
    assert page.locator('#progress [data-field="figure"]').is_hidden()
    screenshot(page, "playground-failed")

    # A good run again, then one the server refuses (a photo too small): nothing left over.
    run_playground(page, good, garment)
    status.filter(has_text="completed").wait_for()
    assert details.get_attribute("href") != first_job_url
    run_playground(page, tiny, garment)
    status.filter(has_text="failed").wait_for()
    assert_links_hidden(page)
    screenshot(page, "playground-rejected")
