"""The Helm chart (deploy/helm/todo-api), rendered by Helm's engine: lint-clean, every manifest
valid against the Kubernetes schemas, and the deployment rules of deploy.md kept.

Run by `make chart` (requirements-chart.txt; see tests/chart/render.py), not by `make test`.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.chart.render import (
    CHART,
    KUBERNETES_VERSIONS,
    Manifest,
    lint,
    production_values,
    render,
    schema_errors,
)
from tests.support import ROOT
from todo_api.api.health import router as health_router
from todo_api.api.metrics_endpoint import router as metrics_router
from todo_api.cli.serve import GRACEFUL_SHUTDOWN_SECONDS
from todo_api.config import ReminderSettings, Settings

pytestmark = pytest.mark.chart

SECRET = "todo-api"  # secrets.existingSecret's default
SECRET_SETTINGS = {
    "DATABASE_URL",
    "WORKER_DATABASE_URL",
    "BETTER_AUTH_SECRET",
    "METRICS_TOKEN",
    "EVENTS_URL",
    "EVENTS_WEBHOOK_SECRET",
    "LIVE_LISTEN_URL",
}
EVENTS = {"secrets": {"keys": {"eventsUrl": "EVENTS_URL"}}}


def everything() -> dict[str, Any]:
    """The production example with every option on (Dapr too)."""
    return production_values() | {"dapr": {"enabled": True, "config": "tracing"}}


VARIANTS = {"default": lambda: None, "production": production_values, "everything": everything}


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendering(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(VARIANTS[request.param]())


def one(manifests: list[Manifest], kind: str, component: str = "api") -> Manifest:
    found = [
        m
        for m in manifests
        if m.kind == kind
        and m.body["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    assert len(found) == 1, f"{len(found)} {kind} of {component}"
    return found[0]


def pods(manifests: list[Manifest]) -> list[dict[str, Any]]:
    """Every pod template (Deployments and Jobs)."""
    return [m.body["spec"]["template"] for m in manifests if m.kind in {"Deployment", "Job"}]


def container(manifest: Manifest) -> dict[str, Any]:
    (only,) = manifest.body["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(manifest)["env"]}


def secret_key(entry: dict[str, Any]) -> str:
    reference = entry["valueFrom"]["secretKeyRef"]
    assert reference["name"] == SECRET
    return str(reference["key"])


@pytest.mark.parametrize("values", ["default", "production"])
def test_helm_lint_strict_finds_nothing(values: str) -> None:
    assert lint(VARIANTS[values]()) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(
    rendering: list[Manifest], version: str
) -> None:
    assert len(rendering) >= 4
    problems = {
        f"{m.template} {m.kind}/{m.name}": errors
        for m in rendering
        if (errors := schema_errors(m, version))
    }
    assert problems == {}


def test_a_misspelt_field_fails_validation() -> None:
    """The validation is strict: an unknown field (here a typo) is an error, not ignored."""
    deployment = one(render(), "Deployment")
    deployment.body["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert schema_errors(deployment, KUBERNETES_VERSIONS[-1]) != []
    monitor = one(render(production_values()), "ServiceMonitor")
    monitor.body["spec"]["endpoints"][0]["bearerTokenScret"] = {}
    assert schema_errors(monitor, KUBERNETES_VERSIONS[-1]) != []


def test_defaults_deploy_the_api_its_service_migration_and_budget_only() -> None:
    kinds = Counter(m.kind for m in render())
    assert kinds == {"Deployment": 1, "Service": 1, "Job": 1, "PodDisruptionBudget": 1}


def test_the_migration_is_a_hook_job_not_part_of_the_replicas() -> None:
    manifests = render()
    job = one(manifests, "Job", "migrate")
    assert job.body["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "0",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    assert container(job)["args"] == ["migrate"]
    assert job.body["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert container(one(manifests, "Deployment"))["args"] == ["serve"]
    assert "annotations" not in one(manifests, "Deployment").body["metadata"]


def test_probes_ask_the_apps_health_and_ready_routes_on_the_images_port() -> None:
    api = container(one(render(), "Deployment"))
    assert api["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    routes = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    assert {"/health", "/ready"} <= routes
    image_port = re.search(r"^\s+PORT=(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert image_port is not None
    assert api["ports"] == [
        {"name": "http", "containerPort": int(image_port[1]), "protocol": "TCP"}
    ]


def test_every_pod_runs_as_the_images_user_on_a_read_only_root_with_a_tmp(
    rendering: list[Manifest],
) -> None:
    templates = pods(rendering)
    assert templates
    for template in templates:
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for each in spec["containers"]:
            security = each["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in each["volumeMounts"]}
            assert mounts["/tmp"] in tmp_volumes
            assert each["resources"]["requests"]
            assert each["resources"]["limits"]["memory"]


def test_the_grace_period_covers_the_pre_stop_pause_and_the_servers_drain() -> None:
    deployment = one(render(), "Deployment")
    spec = deployment.body["spec"]["template"]["spec"]
    pause = int(container(deployment)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert spec["terminationGracePeriodSeconds"] == 30
    assert pause + GRACEFUL_SHUTDOWN_SECONDS < spec["terminationGracePeriodSeconds"]


def test_secrets_are_only_referenced_never_templated_in(rendering: list[Manifest]) -> None:
    assert not {"Secret", "ConfigMap"} & {m.kind for m in rendering}
    for template in pods(rendering):
        for entry in template["spec"]["containers"][0]["env"]:
            if entry["name"] not in SECRET_SETTINGS:
                continue
            if entry.get("value") == "off" and entry["name"] == "LIVE_LISTEN_URL":
                continue  # polling: no URL at all
            assert "value" not in entry, entry
            secret_key(entry)


@pytest.mark.parametrize(
    "values",
    [
        {"env": {"DATABASE_URL": "postgresql://app:pw@db/app"}},
        {"env": {"BETTER_AUTH_SECRET": "x" * 40}},
        {"extraEnv": [{"name": "METRICS_TOKEN", "value": "token"}]},
    ],
)
def test_a_secret_given_as_a_plain_value_is_refused(values: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="secret setting"):
        render(values)


def test_the_relay_runs_in_the_api_unless_it_has_a_deployment_of_its_own() -> None:
    in_process = render(EVENTS)
    assert secret_key(env(one(in_process, "Deployment"))["EVENTS_URL"]) == "EVENTS_URL"
    assert not [m for m in in_process if m.name.endswith("-relay")]

    apart = render(EVENTS | {"relay": {"enabled": True}})
    relay = one(apart, "Deployment", "relay")
    assert container(relay)["args"] == ["relay"]
    assert secret_key(env(relay)["EVENTS_URL"]) == "EVENTS_URL"
    assert "EVENTS_URL" not in env(one(apart, "Deployment"))

    with pytest.raises(Exception, match="eventsUrl"):
        render({"relay": {"enabled": True}})


def test_the_scheduler_deployment_turns_the_apis_scheduler_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "REMINDERS_IN_PROCESS" not in env(one(render(), "Deployment"))
    manifests = render({"scheduler": {"enabled": True}})
    assert container(one(manifests, "Deployment", "scheduler"))["args"] == ["scheduler"]
    setting = env(one(manifests, "Deployment"))["REMINDERS_IN_PROCESS"]
    monkeypatch.setenv(setting["name"], setting["value"])
    assert ReminderSettings(_env_file=None).reminders_in_process is False


def test_every_setting_the_chart_sets_is_one_the_app_reads() -> None:
    names = {
        entry["name"]
        for template in pods(render(everything()))
        for entry in template["spec"]["containers"][0]["env"]
    }
    assert "REMINDERS_IN_PROCESS" in names
    assert {name for name in names if name.lower() not in Settings.model_fields} == {"WORKERS"}


def test_migrations_and_listen_use_the_direct_url_requests_the_pooled_one() -> None:
    values = production_values()
    values["secrets"]["keys"]["migrationDatabaseUrl"] = ""  # the direct URL then migrates
    manifests = render(values)
    api = env(one(manifests, "Deployment"))
    assert secret_key(api["DATABASE_URL"]) == "DATABASE_URL"
    assert secret_key(api["LIVE_LISTEN_URL"]) == "DIRECT_DATABASE_URL"
    assert secret_key(env(one(manifests, "Job", "migrate"))["DATABASE_URL"]) == (
        "DIRECT_DATABASE_URL"
    )
    for component in ("relay", "scheduler"):
        background = env(one(manifests, "Deployment", component))
        assert secret_key(background["DATABASE_URL"]) == "DATABASE_URL"
        assert "LIVE_LISTEN_URL" not in background
    polling = env(one(render({"liveUpdates": {"listen": False}}), "Deployment"))
    assert polling["LIVE_LISTEN_URL"] == {"name": "LIVE_LISTEN_URL", "value": "off"}


def test_behind_row_level_security_only_the_migration_connects_as_the_owner() -> None:
    """The production example as it is: the owner's URL for the migration Job alone."""
    manifests = render(production_values())
    job = env(one(manifests, "Job", "migrate"))
    assert secret_key(job["DATABASE_URL"]) == "OWNER_DATABASE_URL"
    api = env(one(manifests, "Deployment"))
    assert secret_key(api["DATABASE_URL"]) == "DATABASE_URL"
    assert secret_key(api["LIVE_LISTEN_URL"]) == "DIRECT_DATABASE_URL"
    for component in ("relay", "scheduler"):
        background = env(one(manifests, "Deployment", component))
        assert secret_key(background["DATABASE_URL"]) == "DATABASE_URL"


def test_cross_user_work_connects_with_the_workers_login_where_it_runs() -> None:
    """secrets.keys.workerDatabaseUrl reaches the API (housekeeping, and the relay and
    scheduler when in-process), the relay and the scheduler, not the migration; unset, no
    container gets WORKER_DATABASE_URL."""
    manifests = render(production_values())
    for component in ("api", "relay", "scheduler"):
        pod = env(one(manifests, "Deployment", component))
        assert secret_key(pod["WORKER_DATABASE_URL"]) == "WORKER_DATABASE_URL"
    assert "WORKER_DATABASE_URL" not in env(one(manifests, "Job", "migrate"))
    values = production_values()
    values["secrets"]["keys"]["workerDatabaseUrl"] = ""
    for template in pods(render(values)):
        names = {entry["name"] for entry in template["spec"]["containers"][0]["env"]}
        assert "WORKER_DATABASE_URL" not in names


def test_the_autoscaler_owns_the_replica_count() -> None:
    assert one(render(), "Deployment").body["spec"]["replicas"] == 2
    manifests = render(production_values())
    api = one(manifests, "Deployment")
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert "replicas" not in api.body["spec"]
    assert hpa.body["spec"]["scaleTargetRef"]["name"] == api.name
    assert (hpa.body["spec"]["minReplicas"], hpa.body["spec"]["maxReplicas"]) == (3, 10)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_service_budget_and_monitor_select_the_api_pods_only() -> None:
    manifests = render(production_values())
    labels = {
        m.body["metadata"]["labels"]["app.kubernetes.io/component"]: m.body["spec"]["template"][
            "metadata"
        ]["labels"]
        for m in manifests
        if m.kind in {"Deployment", "Job"}
    }
    assert set(labels) == {"api", "relay", "scheduler", "migrate"}
    service = one(manifests, "Service")
    budget = one(manifests, "PodDisruptionBudget")
    for selector in (
        service.body["spec"]["selector"],
        budget.body["spec"]["selector"]["matchLabels"],
    ):
        assert [c for c, pod_labels in labels.items() if matches(selector, pod_labels)] == ["api"]
    monitor = one(manifests, "ServiceMonitor")
    assert matches(
        monitor.body["spec"]["selector"]["matchLabels"], service.body["metadata"]["labels"]
    )
    assert monitor.body["spec"]["endpoints"][0]["port"] == service.body["spec"]["ports"][0]["name"]


def test_the_service_monitor_scrapes_metrics_with_the_apps_token() -> None:
    manifests = render(production_values())
    (endpoint,) = one(manifests, "ServiceMonitor").body["spec"]["endpoints"]
    assert endpoint["path"] in {route.path for route in metrics_router.routes}  # type: ignore[attr-defined]
    assert endpoint["authorization"]["type"] == "Bearer"
    credentials = endpoint["authorization"]["credentials"]
    api_token = env(one(manifests, "Deployment"))["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert credentials == {"name": api_token["name"], "key": api_token["key"]}
    with pytest.raises(Exception, match="metricsToken"):
        render({"serviceMonitor": {"enabled": True}})


def test_dapr_annotations_only_when_enabled() -> None:
    assert "annotations" not in one(render(), "Deployment").body["spec"]["template"]["metadata"]
    manifests = render(everything())
    api = one(manifests, "Deployment").body["spec"]["template"]["metadata"]["annotations"]
    assert api == {
        "dapr.io/enabled": "true",
        "dapr.io/app-id": "todo-todo-api",
        "dapr.io/app-port": "8000",
        "dapr.io/config": "tracing",
    }
    relay = one(manifests, "Deployment", "relay").body["spec"]["template"]["metadata"]
    assert relay["annotations"]["dapr.io/app-id"] == "todo-todo-api-relay"
    assert "dapr.io/app-port" not in relay["annotations"]


def test_the_image_defaults_to_the_charts_app_version_everywhere() -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    images = {
        t["spec"]["containers"][0]["image"]
        for t in pods(render(EVENTS | {"relay": {"enabled": True}}))
    }
    assert images == {f"todo-api:{app_version}"}


def test_tokens_from_a_key_set_need_no_shared_secret() -> None:
    jwks = {
        "secrets": {"keys": {"betterAuthSecret": ""}},
        "env": {"JWT_JWKS_URL": "https://auth.example/jwks"},
    }
    api = env(one(render(jwks), "Deployment"))
    assert "BETTER_AUTH_SECRET" not in api
    assert api["JWT_JWKS_URL"]["value"] == "https://auth.example/jwks"
    with pytest.raises(Exception, match="JWT_JWKS_URL"):
        render({"secrets": {"keys": {"betterAuthSecret": ""}}})
