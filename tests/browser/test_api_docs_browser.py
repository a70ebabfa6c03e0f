"""The API docs page in a real browser: Swagger UI renders the schema with no
request leaving this origin (a warehouse may have no internet) and no CSP refusal."""

from urllib.parse import urlsplit

import pytest


@pytest.mark.django_db(transaction=True)
def test_api_docs_render_offline_from_this_origin(live_server, page):
    """Every request of the docs page goes to the live server; the operations render."""
    origin = urlsplit(live_server.url).netloc
    foreign, refused = [], []
    page.on("request", lambda r: urlsplit(r.url).netloc != origin and foreign.append(r.url))
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and refused.append(m.text),
    )
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    assert page.locator(".opblock-summary-path", has_text="/api/v1/replenishment-orders").count()
    assert foreign == [] and refused == []
