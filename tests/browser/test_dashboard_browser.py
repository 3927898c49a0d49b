"""The dashboard end to end in headless Chromium (Debian's `chromium`, driven by Playwright)
against a real server process: sign up, create a key, use it with the API, watch the job
complete, run the playground, revoke the key. Screenshots go to tests/artifacts/."""
import os
import time
from pathlib import Path

import pytest
import requests

from tests.fakes import make_image_bytes
from tests.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium on a machine with no internet stalls on background requests.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PASSWORD = "correct horse"
WAIT_MS = 15_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.slow,   # a real browser against a live server: `make test-fast` leaves it out
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("browser"), WORKERS=1,
                      TEST_PROVIDER_DELAY="0.5").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], problems          # CSP violations and script errors show up here


@pytest.fixture
def photos(tmp_path):
    person, garment = tmp_path / "person.jpg", tmp_path / "garment.jpg"
    person.write_bytes(make_image_bytes())
    garment.write_bytes(make_image_bytes(color=(30, 90, 200)))
    return person, garment


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def nav(page, name):
    """A link of the main navigation (pages link to each other with the same words too)."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def submit_with_key(server, key, photos):
    person, garment = photos
    with open(person, "rb") as p, open(garment, "rb") as g:
        response = requests.post(f"{server.url}/api/v1/tryon", timeout=10,
                                 headers={"Authorization": f"Bearer {key}"},
                                 files={"person_images": p, "garment_images": g})
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def api_status_code(server, key):
    return requests.get(f"{server.url}/api/v1/credits", timeout=10,
                        headers={"Authorization": f"Bearer {key}"}).status_code


def test_the_whole_dashboard_flow(server, page, photos):
    started = time.monotonic()
    # Sign up: the first account, so the admin.
    page.goto(f"{server.url}/signup")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("you are this server's admin").wait_for()
    screenshot(page, "01-overview")

    # Create a key; it is shown once, with a copy button.
    nav(page, "API keys").click()
    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-key").input_value()
    assert key.startswith("ta_") and len(key) == 35
    new_key_card = page.get_by_role("region", name="Your new key")
    new_key_card.get_by_role("button", name="Copy the new key").click()
    new_key_card.get_by_text("Copied").wait_for()
    screenshot(page, "02-new-key")

    # Use it with the API; the job appears in the dashboard and completes there by itself.
    job_id = submit_with_key(server, key, photos)
    nav(page, "Jobs").click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.wait_for()
    screenshot(page, "03-jobs-processing")
    page.locator(f'tr[data-job-id="{job_id}"][data-status="completed"]').wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('.thumbs img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    screenshot(page, "04-jobs-completed")

    # The job page: details and the result download.
    page.locator(f'tr[data-job-id="{job_id}"] a').first.click()
    download_link = page.get_by_test_id("download")
    download_link.wait_for()
    with page.expect_download() as download:
        download_link.click()
    assert job_id in download.value.suggested_filename
    assert download.value.suggested_filename.endswith(".png")
    screenshot(page, "05-job")

    # The playground: pick two photos, submit, watch, see and download the result.
    nav(page, "Playground").click()
    balance_before = int(page.get_by_test_id("balance").inner_text())
    page.get_by_label("Person photo").set_input_files(str(photos[0]))
    page.get_by_label("Garment photo").set_input_files(str(photos[1]))
    page.get_by_role("button", name="Try it on").click()
    page.locator('#progress [data-field="status"]', has_text="processing").wait_for()
    page.get_by_role("link", name="Download the result").wait_for()
    assert int(page.get_by_test_id("balance").inner_text()) == balance_before - 1
    page.wait_for_function("() => document.querySelector('#progress img').naturalWidth > 0")
    screenshot(page, "06-playground")

    # Credits: two jobs debited from the sign-up grant.
    nav(page, "Credits").click()
    assert int(page.get_by_test_id("balance").inner_text()) == balance_before - 1
    assert page.locator(".badge-debit").count() == 2
    screenshot(page, "07-credits")

    # Admin and docs render too.
    nav(page, "Admin").click()
    page.get_by_role("heading", name="Provider").wait_for()
    screenshot(page, "08-admin")
    nav(page, "Docs").click()
    assert f"{server.url}/api/v1/tryon" in page.locator('[data-example="curl"]').inner_text()
    screenshot(page, "09-docs")

    # Revoke the key, with a confirmation; the very next API call is refused.
    assert api_status_code(server, key) == 200
    nav(page, "API keys").click()
    page.get_by_role("link", name="Revoke the key browser test").click()
    page.get_by_role("button", name="Revoke key").click()
    page.get_by_text("is revoked").wait_for()
    screenshot(page, "10-key-revoked")
    assert api_status_code(server, key) == 401
    assert time.monotonic() - started < 60


def test_small_screens_and_keyboard(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{server.url}/login")
    screenshot(page, "11-login-phone")
    page.keyboard.press("Tab")                  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.get_by_role("heading", name="Overview").wait_for()
    page.goto(f"{server.url}/jobs")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    screenshot(page, "12-jobs-phone")
    context.close()
