"""One log line per request, X-Request-ID, and Prometheus metrics at /metrics."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import URL

from tests.support import bearer, metric_value, running_server, sign
from todo_api.config import Settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio

TASKS = "/api/alice/tasks"
SECRET_TITLE = "Surprise party for Bob"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def request_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if "status" in line]


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"log_format": "json"}))


async def test_each_request_logs_one_json_line_without_ids_tokens_or_text(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    created = await client.post(TASKS, json={"title": SECRET_TITLE})
    task_id = created.json()["id"]
    capsys.readouterr()

    response = await client.get(f"{TASKS}/{task_id}")

    output = capsys.readouterr().err
    (line,) = request_lines(output)
    assert line["method"] == "GET"
    assert line["route"] == "/api/{user_id}/tasks/{task_id}"
    assert line["status"] == 200
    assert 0 < line["duration_ms"] < 10_000
    assert line["request_id"] == response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", line["user_ref"])
    assert line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    # The user's id, their token (a JWT starts "eyJ") and their task's text appear nowhere.
    for secret in ("alice", SECRET_TITLE, "eyJ", "Bearer"):
        assert secret not in output


async def test_the_user_reference_is_stable_and_differs_between_users(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for user in ("alice", "alice", "bob"):
        await client.get(f"/api/{user}/tasks")
    refs = [line["user_ref"] for line in request_lines(capsys.readouterr().err)]
    assert refs[0] == refs[1] != refs[2]


async def test_an_anonymous_or_unmatched_request_is_logged_with_what_is_known(
    anonymous_client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await anonymous_client.get(TASKS)
    await anonymous_client.get("/no/such/path/alice")
    first, second = request_lines(capsys.readouterr().err)
    assert (first["route"], first["status"], first["user_ref"]) == (
        "/api/{user_id}/tasks",
        401,
        None,
    )
    assert (second["route"], second["status"]) == ("unmatched", 404)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-42.a_b:c", True),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("with spaces", False),
        ("x" * 129, False),
        ("new\\nline", False),
        ("", False),
    ],
)
async def test_a_sane_request_id_is_kept_and_any_other_replaced(
    client: httpx.AsyncClient, sent: str, kept: bool
) -> None:
    response = await client.get("/api/alice/tasks/999", headers={"X-Request-ID": sent})
    echoed = response.headers["x-request-id"]
    if kept:
        assert echoed == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{24}", echoed)
    assert response.status_code == 404
    assert response.json()["request_id"] == echoed


async def test_every_response_gets_a_request_id_and_problems_carry_it(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    ok = await client.get(TASKS)
    unauthorized = await anonymous_client.get(TASKS)
    invalid = await client.post(TASKS, json={"title": ""})
    health = await anonymous_client.get("/health")
    ids = [r.headers["x-request-id"] for r in (ok, unauthorized, invalid, health)]
    assert len(set(ids)) == 4
    assert unauthorized.json()["request_id"] == ids[1]
    assert invalid.json()["request_id"] == ids[2]


async def test_an_unhandled_error_is_a_500_problem_logged_once_with_its_request_id(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    async def broken() -> None:
        looking = "secret-looking"
        raise RuntimeError(f"a bug with a {looking} detail")

    app.add_api_route("/broken", broken)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        capsys.readouterr()
        response = await http.get("/broken", headers={"X-Request-ID": "trace-500"})

    assert response.status_code == 500
    assert response.json()["detail"] == "Internal server error"
    assert response.json()["request_id"] == "trace-500"
    assert "secret-looking" not in response.text
    output = capsys.readouterr().err
    errors = [line for line in json_lines(output) if line["level"] == "error"]
    assert len(errors) == 1
    # Logged once with its frames; its text (which could quote request data) is not.
    assert errors[0]["exception"].endswith("\nRuntimeError")
    assert ", in broken" in errors[0]["exception"]
    assert "secret-looking" not in output
    assert errors[0]["request_id"] == "trace-500"
    (line,) = request_lines(output)
    assert (line["route"], line["status"]) == ("/broken", 500)


async def test_text_lines_are_readable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings)  # LOG_FORMAT defaults to text
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        capsys.readouterr()
        response = await http.get(TASKS, headers=bearer(sign("alice")))
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "todo_api.requests" in line]
    assert re.fullmatch(
        r"\S+Z INFO todo_api\.requests GET /api/\{user_id\}/tasks 200 [\d.]+ms "
        rf"user=[0-9a-f]{{16}} request_id={response.headers['x-request-id']}",
        line,
    )


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    labels = {"method": "GET", "route": "/api/{user_id}/tasks", "status": "200"}
    before = (await anonymous_client.get("/metrics")).text
    for _ in range(3):
        await client.get(TASKS)
    await anonymous_client.get(TASKS)  # a 401
    response = await anonymous_client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    count = "todo_api_requests_total"
    assert metric_value(after, count, **labels) - metric_value(before, count, **labels) == 3
    unauthorized = {**labels, "status": "401"}
    assert (
        metric_value(after, count, **unauthorized) - metric_value(before, count, **unauthorized)
        == 1
    )
    histogram = "todo_api_request_duration_seconds_count"
    assert metric_value(after, histogram, **labels) - metric_value(before, histogram, **labels) == 3
    assert metric_value(after, "todo_api_request_duration_seconds_bucket", **labels, le="+Inf") >= 3
    for gauge in (
        "todo_api_db_pool_in_use",
        "todo_api_db_pool_waiting",
        "todo_api_admission_queue_length",
    ):
        assert f"# TYPE {gauge} gauge" in after
    assert "alice" not in after  # routes are templates, never paths


async def test_metric_labels_stay_bounded_whatever_the_method_or_path(
    anonymous_client: httpx.AsyncClient,
) -> None:
    for method in ("PROPFIND", "BREW", "X-ANY"):
        await anonymous_client.request(method, f"/random/{method}/path")
    text = (await anonymous_client.get("/metrics")).text
    labels = {"method": "other", "route": "unmatched", "status": "404"}
    assert metric_value(text, "todo_api_requests_total", **labels) >= 3
    for sent in ("PROPFIND", "BREW", "X-ANY", "/random"):
        assert sent not in text


async def test_the_admission_queue_and_the_pool_are_reported_as_they_are(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    admission = app.state.admission
    turns = app.state.settings.max_concurrent_requests
    for _ in range(turns):
        await admission.__aenter__()
    waiting = [admission.__aenter__() for _ in range(2)]
    queued = [asyncio.ensure_future(turn) for turn in waiting]
    await asyncio.sleep(0.05)
    async with app.state.database.engine.connect():
        text = (await anonymous_client.get("/metrics")).text
    for task in queued:
        task.cancel()
    for _ in range(turns):
        await admission.__aexit__(None, None, None)
    assert metric_value(text, "todo_api_admission_queue_length") == 2
    assert metric_value(text, "todo_api_db_pool_in_use") == 1


async def test_metrics_need_the_token_when_one_is_set(settings: Settings) -> None:
    token = SecretStr("scrape-" + "k" * 32)
    app = create_app(settings.model_copy(update={"metrics_token": token}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        refused = await http.get("/metrics")
        wrong = await http.get("/metrics", headers=bearer("scrape-" + "x" * 32))
        user_token = await http.get("/metrics", headers=bearer(sign("alice")))
        allowed = await http.get("/metrics", headers=bearer("scrape-" + "k" * 32))
    assert refused.status_code == wrong.status_code == user_token.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert allowed.status_code == 200
    assert "todo_api_requests_total" in allowed.text


async def test_production_serves_metrics_only_with_a_token_and_they_can_be_turned_off(
    settings: Settings,
) -> None:
    production = settings.model_copy(update={"environment": "production"})
    off = settings.model_copy(update={"metrics_enabled": False})
    for config in (production, off):
        app = create_app(config)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            assert (await http.get("/metrics")).status_code == 404


def test_with_several_workers_metrics_add_up_and_logs_are_json(
    migrated_database: URL, clean_database: psycopg.Connection, tmp_path: Path
) -> None:
    """The production command with two workers: whichever worker answers a scrape reports
    the requests of both (prometheus_client's multiprocess mode)."""
    env = {"LOG_FORMAT": "json"}
    with running_server(migrated_database, tmp_path, serve=True, env=env, workers=2) as (base, _):
        headers = bearer(sign("alice"))
        with httpx.Client(base_url=base) as http:
            for _ in range(40):  # new connections: the kernel spreads them over the workers
                httpx.get(f"{base}{TASKS}", headers=headers)
            scrapes = [http.get("/metrics").text for _ in range(6)]
    labels = {"method": "GET", "route": "/api/{user_id}/tasks", "status": "200"}
    assert {metric_value(text, "todo_api_requests_total", **labels) for text in scrapes} == {40.0}

    lines = request_lines((tmp_path / "server.log").read_text())
    assert len([line for line in lines if line["route"] == "/api/{user_id}/tasks"]) == 40
