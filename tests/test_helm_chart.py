"""The Helm chart (deploy/helm/pg-workflow), rendered by Helm's own engine
(helm-python-sdk binds Helm's Go SDK) and checked against the Kubernetes
JSON schemas (kubernetes-validate), plus the wiring between its objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from service import migrate

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "pg-workflow"
NAMESPACE = "workflows"
# The chart's kubeVersion floor and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())

SINGLE_TENANT = {"database": {"url": "postgresql://wf:secret@db.example:5432/wf"}}
MULTI_TENANT = {
    "replicaCount": 3,
    "database": {"existingSecret": "wf-db", "existingSecretKey": "url"},
    "multiTenant": {"enabled": True, "adminServiceAccount": "platform:wf-admin",
                    "handlerAllowNetworks": "10.20.30.40/32,fd00:20::40/128"},
    "handlerDenyNetworks": "10.96.0.0/12",
    "migrations": {"job": {"enabled": True}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
    "podAntiAffinity": "hard",
    "extraEnv": [{"name": "WF_QUEUE_MAX_ATTEMPTS", "value": "20"}],
}


def render(values: dict[str, Any], release: str = "wf") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=release, namespace=NAMESPACE)
    docs = []
    for path, text in manifests.items():
        if path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("values", [SINGLE_TENANT, MULTI_TENANT, {**SINGLE_TENANT, "replicaCount": 1}],
                         ids=["single-tenant", "multi-tenant", "one-replica"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    docs = render(values)
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked in test_service_monitor_scrapes_metrics_of_the_service
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_lint_is_clean() -> None:
    for values in (SINGLE_TENANT, MULTI_TENANT):
        report = helm.lint(str(CHART), values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not report["errors"] and not problems, report


def test_single_tenant_release() -> None:
    docs = render(SINGLE_TENANT)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    # no token file in the pod ⇒ the service runs single-tenant without auth
    assert pod["automountServiceAccountToken"] is False
    env = env_of(pod["containers"][0])
    secret = one(docs, "Secret")
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "DATABASE_URL"}}
    assert secret["stringData"]["DATABASE_URL"] == SINGLE_TENANT["database"]["url"]
    assert "K8S_ADMIN_SERVICE_ACCOUNT" not in env and "WF_HANDLER_ALLOW_NETWORKS" not in env
    assert "WF_HANDLER_DENY_NETWORKS" not in env
    assert env["WF_ENABLE_POLLER"] == "true" and env["WF_DB_POOL_MAX"] == "20"
    # pods run in Kubernetes without a token: only a named single-tenant mode starts there
    assert env["WF_MODE"] == "single-tenant" and "WF_TOKEN_AUDIENCE" not in env


def test_multi_tenant_release() -> None:
    docs = render(MULTI_TENANT)
    assert not by_kind(docs, "Secret"), "an existing Secret is used, none is created"
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert pod["automountServiceAccountToken"] is True
    env = env_of(pod["containers"][0])
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "wf-db", "key": "url"}}
    assert env["K8S_ADMIN_SERVICE_ACCOUNT"] == "platform:wf-admin"
    assert env["WF_HANDLER_ALLOW_NETWORKS"] == "10.20.30.40/32,fd00:20::40/128"
    assert env["WF_HANDLER_DENY_NETWORKS"] == "10.96.0.0/12"
    assert env["WF_QUEUE_MAX_ATTEMPTS"] == "20"
    assert env["WF_MODE"] == "multi-tenant" and env["WF_TOKEN_AUDIENCE"] == "pg-workflow"
    terms = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]

    # TokenReview: the ClusterRole allows exactly create on tokenreviews, bound to the pods' account
    role, binding = one(docs, "ClusterRole"), one(docs, "ClusterRoleBinding")
    assert role["rules"] == [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
                              "verbs": ["create"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"],
                                    "namespace": NAMESPACE}]
    assert one(docs, "ServiceAccount")["metadata"]["name"] == pod["serviceAccountName"]


def test_the_audience_is_a_value_and_the_notes_show_the_projected_token() -> None:
    values = {**MULTI_TENANT, "multiTenant": {**MULTI_TENANT["multiTenant"], "audience": "workflows.example"}}
    pod = one(render(values), "Deployment")["spec"]["template"]["spec"]
    assert env_of(pod["containers"][0])["WF_TOKEN_AUDIENCE"] == "workflows.example"
    with helm.Chart.load(str(CHART)) as chart:
        notes = next(text for path, text in chart.render(values, name="wf", namespace=NAMESPACE).items()
                     if path.endswith("NOTES.txt"))
    assert "audience: workflows.example" in notes and "/var/run/secrets/pg-workflow" in notes


def test_the_app_example_projects_a_token_for_the_default_audience() -> None:
    """examples/app-deployment.yaml: valid, and it mounts a token for the chart's default audience where the
    client World reads it by default."""
    example = yaml.safe_load((CHART / "examples" / "app-deployment.yaml").read_text())
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(example, version, strict=True)
    default_audience = yaml.safe_load((CHART / "values.yaml").read_text())["multiTenant"]["audience"]
    pod = example["spec"]["template"]["spec"]
    [volume] = pod["volumes"]
    [source] = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == default_audience
    assert source["serviceAccountToken"]["expirationSeconds"] >= 600
    [mount] = pod["containers"][0]["volumeMounts"]
    assert mount["name"] == volume["name"]
    token_file = f"{mount['mountPath']}/{source['serviceAccountToken']['path']}"
    client_auth = (CHART.parent.parent.parent / "clients" / "world" / "lib" / "auth.js").read_text()
    assert f"DEFAULT_TOKEN_FILE = '{token_file}'" in client_auth
    assert env_of(pod["containers"][0])["WORKFLOW_SERVICE_TOKEN_FILE"] == token_file


def test_probes_use_ready_and_status_on_the_served_port() -> None:
    pod = one(render(SINGLE_TENANT), "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/status"
    assert container["startupProbe"]["httpGet"]["path"] == "/status"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    assert env_of(container)["PORT"] == str(ports["http"])
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]


def test_service_and_budget_select_the_pods() -> None:
    docs = render(SINGLE_TENANT)
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] == 1
    assert not by_kind(render({**SINGLE_TENANT, "replicaCount": 1}), "PodDisruptionBudget"), \
        "a budget of 1 with one replica would block every node drain"


def test_service_monitor_scrapes_metrics_of_the_service() -> None:
    docs = render(MULTI_TENANT)
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["interval"]


def test_migration_job_runs_the_service_deploy_before_upgrades() -> None:
    job = one(render(MULTI_TENANT), "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"post-install", "pre-upgrade"}
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["DATABASE_URL"] == {"secretKeyRef": {"name": "wf-db", "key": "url"}}
    code = container["command"][-1]
    assert "from service.migrate import deploy" in code and callable(migrate.deploy)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert not by_kind(render(SINGLE_TENANT), "Job"), "off by default: pods migrate at start"


def test_a_release_without_database_url_fails_to_render_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match=r"database\.url or database\.existingSecret"):
        render({})


# Values whose contents are free-form Kubernetes objects (resources, security
# contexts): documented as a whole by the comment above their key.
FREE_FORM = {"resources", "podSecurityContext", "securityContext"}


def test_every_value_is_documented() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented, free_form_indent = [], None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        indent = len(line) - len(line.lstrip())
        if free_form_indent is not None and indent > free_form_indent:
            continue
        free_form_indent = None
        key = stripped.split(":", 1)[0]
        previous = lines[i - 1].strip() if i else ""
        if not previous.startswith("#"):
            undocumented.append(key)
        if key in FREE_FORM:
            free_form_indent = indent
    assert undocumented == []
