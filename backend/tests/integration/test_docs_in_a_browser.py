"""`/docs` in a real browser: Authorize, then "Try it out" on createTask and listTasks.

Headless Chromium from Debian's `chromium` package, driven by Selenium through Debian's
`chromium-driver` (nothing is downloaded at install time). Without them the test is skipped
with the reason. `DOCS_SCREENSHOT=<file.png>` saves the page at the end (the README's
picture is made this way).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support import running_server, sign

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
USER = "docs-reader"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(
        "/docs not tried in a browser: Chromium is not installed "
        "(apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def server(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> Iterator[str]:
    with running_server(migrated_database, tmp_path, serve=True) as (base, _process):
        yield base


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1400")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class SwaggerUI:
    """The few parts of Swagger UI a person clicks to try an operation."""

    def __init__(self, browser: WebDriver) -> None:
        self.browser = browser
        self.wait = WebDriverWait(browser, 20)

    def find(self, selector: str) -> WebElement:
        return self.wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def click(self, selector: str) -> None:
        self.wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, selector))).click()

    def authorize(self, token: str) -> None:
        self.click("button.authorize")
        self.find("#auth-bearer-value").send_keys(token)
        self.click(".auth-btn-wrapper button.authorize")
        self.click(".auth-btn-wrapper button.btn-done")

    def try_out(self, operation_id: str, user_id: str, body: str | None = None) -> Any:
        """Run the operation from its panel; the status and JSON body rendered for it."""
        panel = f"#operations-tasks-{operation_id}"
        self.click(f"{panel} .opblock-summary")
        self.click(f"{panel} button.try-out__btn")
        self.find(f'{panel} tr[data-param-name="user_id"] input').send_keys(user_id)
        if body is not None:
            editor = self.find(f"{panel} textarea.body-param__text")
            editor.send_keys(Keys.CONTROL, "a")  # as a person replaces the example
            editor.send_keys(Keys.DELETE, body)
        self.click(f"{panel} button.execute")
        status = self.find(f"{panel} .live-responses-table tbody .response-col_status").text
        rendered = self.find(f"{panel} .live-responses-table tbody .microlight").text
        return int(status), json.loads(rendered)


def test_authorize_then_try_it_out_creates_and_lists_a_task(
    server: str, browser: WebDriver
) -> None:
    browser.get(f"{server}/docs")
    page = SwaggerUI(browser)
    page.authorize(sign(USER))

    status, created = page.try_out("createTask", USER, '{"title": "Tried in the browser"}')
    assert status == 201
    assert created["title"] == "Tried in the browser"
    assert created["user_id"] == USER

    status, listed = page.try_out("listTasks", USER)
    assert status == 200
    assert [task["title"] for task in listed] == ["Tried in the browser"]

    # Everything the page loaded (scripts, styles, the contract, the API calls) came from
    # the server itself: /docs works offline and leaks nothing to a CDN.
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded
    origin = urlsplit(server).netloc
    assert [url for url in loaded if urlsplit(url).netloc != origin] == []

    if screenshot := os.environ.get("DOCS_SCREENSHOT"):
        response = page.find("#operations-tasks-createTask .live-responses-table")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", response)
        browser.save_screenshot(screenshot)
