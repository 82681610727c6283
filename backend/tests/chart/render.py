"""The chart rendered by Helm's own engine, linted, and checked against the Kubernetes schemas.

`make chart` installs requirements-chart.txt: helm-python-sdk binds Helm v4's Go SDK (the
code behind `helm template` and `helm lint`) through its C ABI, so the real template engine
renders offline, with no helm binary and no cluster; kubernetes-validate ships the API
server's JSON schemas for each Kubernetes release. Both are imported inside the functions:
the normal suite collects these tests (and deselects them) without those packages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.support import ROOT

CHART = ROOT / "deploy" / "helm" / "todo-api"
PRODUCTION_VALUES = CHART / "values-production.yaml"
RELEASE = "todo"
NAMESPACE = "todo"
# The oldest release the chart claims (Chart.yaml's kubeVersion) and the newest with schemas.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
# A custom resource has no schema in Kubernetes: ours covers what the chart writes.
CUSTOM_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.schema.json"}


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    template: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


def production_values() -> dict[str, Any]:
    """values-production.yaml as `helm -f` reads it."""
    values: dict[str, Any] = yaml.safe_load(PRODUCTION_VALUES.read_text(encoding="utf-8"))
    return values


def render(values: dict[str, Any] | None = None) -> list[Manifest]:
    """`helm template` of the chart for an install, with `values` over the chart's defaults."""
    import helm_python

    with helm_python.Chart.load(CHART) as chart:
        files = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests = []
    for template, text in sorted(files.items()):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for body in yaml.safe_load_all(text):
            if body is not None:
                manifests.append(Manifest(template, body))
    return manifests


def lint(values: dict[str, Any] | None = None) -> list[str]:
    """`helm lint --strict`: its warnings and errors (informational notes left out)."""
    import helm_python

    report = helm_python.lint(CHART, values, strict=True, namespace=NAMESPACE)
    findings = [
        f"{message['path']}: {message['error']}"
        for message in report["messages"]
        if message["severity"] >= 2  # 2 warning, 3 error
    ]
    return findings + [str(error) for error in report["errors"]]


def schema_errors(manifest: Manifest, kubernetes_version: str) -> list[str]:
    """Why `manifest` does not validate (strict: no unknown field), or [] when it does."""
    import kubernetes_validate

    key = (manifest.body.get("apiVersion"), manifest.body.get("kind"))
    if key in CUSTOM_SCHEMAS:
        validator = _custom_validator(CUSTOM_SCHEMAS[key], kubernetes_version)
        return [
            f"{'.'.join(map(str, error.path))}: {error.message}"
            for error in validator.iter_errors(manifest.body)
        ]
    try:
        kubernetes_validate.validate(manifest.body, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


@cache
def _custom_validator(schema_file: str, kubernetes_version: str) -> Any:
    """A validator of one of our schemas, its $refs resolved against the Kubernetes
    definitions of that release (metadata and label selectors are checked as Kubernetes'
    own)."""
    import jsonschema  # type: ignore[import-untyped]
    from kubernetes_validate.utils import schema_contents
    from referencing import Registry, Resource

    schema = json.loads((Path(__file__).parent / schema_file).read_text(encoding="utf-8"))
    release = kubernetes_version.rsplit(".", 1)[0] + ".0"
    definitions = schema_contents(
        f"kubernetes-json-schema/v{release}-local-strict/_definitions.json", kubernetes_version
    )
    registry: Registry[Any] = Registry().with_resources(
        [
            (schema["$id"], Resource.from_contents(schema)),
            (definitions["$id"], Resource.from_contents(definitions)),
        ]
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)
