"""Helpers of the handheld page tests: log in as a demo-style user, scan as a scanner does."""

PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory


def login(page, base: str, username: str, next_url: str) -> None:
    """Open ``next_url``, get sent to the handheld login, log in, land on ``next_url``."""
    page.goto(f"{base}{next_url}")
    page.wait_for_url("**/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{base}{next_url}")


def scan(page, value: str) -> None:
    """A scanner types into the focused scan field and sends Enter (which submits)."""
    field = page.locator("[data-scan]")
    assert field.evaluate("el => el === document.activeElement"), "scan field not focused"
    field.fill(value)
    field.press("Enter")
    page.wait_for_load_state()
