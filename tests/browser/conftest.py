"""Page tests in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium).

Put page tests in this folder; they get the ``browser`` marker and these fixtures:

- ``browser``: one headless Chromium for the whole run (session scope);
- ``page``: a fresh context and page per test (own cookies, English locale);
  use it with pytest-django's ``live_server``::

      @pytest.mark.django_db(transaction=True)
      def test_something(live_server, page):
          page.goto(f"{live_server.url}/admin/")

Playwright's sync API keeps an asyncio event loop running in the test thread
while a browser is open, and Django refuses ORM calls from such a thread
unless ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set. So the ``browser`` fixture sets it,
and browser tests run after every other test of the session (the ordering
hook below): no other test ever runs beside an open browser. A failing page
test leaves a screenshot in ``$WMS_BROWSER_ARTIFACTS`` (default
``/tmp/wms-browser-failures``).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("WMS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("WMS_BROWSER_ARTIFACTS", "/tmp/wms-browser-failures"))
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selection reads the markers
def pytest_collection_modifyitems(session, config, items):
    """Mark this folder's tests ``browser`` and move every browser test to the end."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium not found at {CHROMIUM} (scripts/services-up installs it).")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
