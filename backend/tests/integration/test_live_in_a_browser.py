"""Live updates in a real browser: a change shows in every open page within a second.

A small test page (below) is served from its own origin, so the browser applies CORS to the
API as it does for a real frontend; the server allows that origin. The page renders the
user's tasks as events arrive, through one of three clients:
- `eventsource`: the browser's own `EventSource`, opened with a single-use ticket;
- `typed-fetch` / `typed-eventsource`: the typed client's `subscribe()` (the compiled
  `dist/live.js` of specs/.../client, which imports nothing at run time), over fetch (an
  `Authorization` header, `Last-Event-ID`: a CORS preflight) or over EventSource.
The token is handed to the page by script, never put in a URL.

Headless Chromium and chromium-driver from Debian, driven by Selenium, as the /docs test
does; without them the module is skipped with the reason. The typed pages also need the
client built (tests/typescript_support.py).
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support import bearer, running_server, sign
from tests.typescript_support import CLIENT, build_client, require_client_tools

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
USER = "live-reader"
WITHIN = 1.0  # seconds from the API's answer to the change showing in every page

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(
        "live updates not tried in a browser: Chromium is not installed "
        "(apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PAGE = """<!doctype html>
<meta charset="utf-8"><title>Tasks, live</title>
<ul id="tasks"></ul>
<script type="module">
const KINDS = ["task.created", "task.updated", "task.completed", "task.reopened", "task.deleted"];
const tasks = new Map();
window.liveState = "loading";
function apply(kind, task) {
  if (kind === "task.deleted") tasks.delete(task.id);
  else tasks.set(task.id, task.title + (task.completed ? " (done)" : ""));
  document.getElementById("tasks").replaceChildren(...[...tasks.values()].map(
    (text) => Object.assign(document.createElement("li"), { textContent: text })));
}
window.start = async (api, user, token, mode) => {
  if (mode === "eventsource") {
    const minted = await fetch(`${api}/api/${user}/events/tickets`,
      { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    const { ticket } = await minted.json();
    const source = new EventSource(`${api}/api/${user}/events?ticket=${ticket}`);
    source.onopen = () => (window.liveState = "open");
    source.onerror = () => (window.liveState = "error");
    for (const kind of KINDS) source.addEventListener(kind, (e) => apply(kind, JSON.parse(e.data)));
    return;
  }
  const { subscribe } = await import("./live.js");
  const handlers = Object.fromEntries(KINDS.map((kind) => [kind, (task) => apply(kind, task)]));
  handlers.status = (status) => (window.liveState = status);
  const transport = mode === "typed-fetch" ? "fetch" : "eventsource";
  subscribe(user, handlers, { baseUrl: api, getToken: () => token, transport });
};
</script>
"""


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The test page on its own origin (a static server): its URL, and the folder it serves."""
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "live.html").write_text(PAGE, encoding="utf-8")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(
    migrated_database: URL,
    clean_database: psycopg.Connection,
    tmp_path: Path,
    pages: tuple[str, Path],
) -> Iterator[str]:
    """The app in its own process, allowing the page's origin (and only it) by CORS."""
    env = {"CORS_ORIGINS": pages[0]}
    with running_server(migrated_database, tmp_path, env=env) as (base, _process):
        yield base


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def open_pages(browser: WebDriver, page: str, server: str, modes: list[str]) -> list[str]:
    """One tab per mode, each following USER's stream; their window handles once all are open."""
    token = sign(USER)
    handles = []
    for index, mode in enumerate(modes):
        if index:
            browser.switch_to.new_window("tab")
        browser.get(f"{page}/live.html")
        browser.execute_script("start(...arguments)", server, USER, token, mode)
        handles.append(browser.current_window_handle)
    for handle in handles:
        browser.switch_to.window(handle)
        WebDriverWait(browser, 10).until(
            lambda driver: driver.execute_script("return window.liveState") == "open",
            f"{browser.title} never opened its stream",
        )
    return handles


def shown(browser: WebDriver, handle: str) -> list[str]:
    browser.switch_to.window(handle)
    items = browser.execute_script(
        "return [...document.querySelectorAll('#tasks li')].map(li => li.textContent)"
    )
    return list(items)


def seconds_until_every_page_shows(
    browser: WebDriver, handles: list[str], expected: list[str], change: Callable[[], None]
) -> float:
    """Make `change`, then how long until every page lists `expected` (fails after 5 s)."""
    change()
    started = time.monotonic()
    waiting = list(handles)
    while waiting:
        waiting = [handle for handle in waiting if shown(browser, handle) != expected]
        elapsed = time.monotonic() - started
        assert elapsed < 5, {handle: shown(browser, handle) for handle in waiting}
    return elapsed


def test_a_change_through_the_api_shows_in_two_eventsource_pages_within_a_second(
    server: str, pages: tuple[str, Path], browser: WebDriver
) -> None:
    handles = open_pages(browser, pages[0], server, ["eventsource", "eventsource"])
    headers = bearer(sign(USER))
    with httpx.Client(base_url=server, headers=headers, timeout=10) as api:
        created: dict[str, Any] = {}

        def create() -> None:
            response = api.post(f"/api/{USER}/tasks", json={"title": "Seen everywhere"})
            assert response.status_code == 201
            created.update(response.json())

        def complete() -> None:
            done = api.patch(f"/api/{USER}/tasks/{created['id']}/complete")
            assert done.status_code == 200

        def delete() -> None:
            assert api.delete(f"/api/{USER}/tasks/{created['id']}").status_code == 204

        assert (
            seconds_until_every_page_shows(browser, handles, ["Seen everywhere"], create) < WITHIN
        )
        done = ["Seen everywhere (done)"]
        assert seconds_until_every_page_shows(browser, handles, done, complete) < WITHIN
        assert seconds_until_every_page_shows(browser, handles, [], delete) < WITHIN


def test_the_typed_client_in_a_page_over_fetch_and_over_eventsource(
    server: str, pages: tuple[str, Path], browser: WebDriver
) -> None:
    require_client_tools()
    build_client()
    shutil.copy(CLIENT / "dist" / "live.js", pages[1] / "live.js")
    handles = open_pages(browser, pages[0], server, ["typed-fetch", "typed-eventsource"])

    # A change made by the first page itself (a cross-origin fetch with the token) shows in
    # the other page, and in its own list through its stream.
    def create_from_the_first_page() -> None:
        browser.switch_to.window(handles[0])
        status = browser.execute_async_script(
            "const [api, user, token, done] = arguments;"
            "fetch(`${api}/api/${user}/tasks`, {method: 'POST',"
            " body: JSON.stringify({title: 'From a tab'}),"
            " headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'}})"
            ".then((r) => done(r.status), (e) => done(String(e)))",
            server,
            USER,
            sign(USER),
        )
        assert status == 201

    assert (
        seconds_until_every_page_shows(browser, handles, ["From a tab"], create_from_the_first_page)
        < WITHIN
    )
