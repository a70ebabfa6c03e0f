"""deploy/helm/wms renders per instance and validates against the Kubernetes schemas.

No cluster runs here and no helm binary installs (no Go toolchain, no Debian
package): the chart is rendered by ops/helm_render.py (the Go-template subset
it uses) and, where ``helm`` is on PATH, also by ``helm template``. Core kinds
are checked against the Kubernetes 1.30 OpenAPI schemas (kubernetes-validate,
strict: unknown fields fail); the CRDs (KEDA, Argo CD) by their required fields.
"""

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from ops.helm_render import render

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "wms"
INSTANCES = sorted((ROOT / "deploy" / "helm" / "instances").glob("*.yaml"))
K8S_VERSION = "1.30"
CRDS = {"keda.sh/v1alpha1", "argoproj.io/v1alpha1"}


def _by_kind(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _pod_specs(docs):
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


@pytest.fixture(params=INSTANCES, ids=lambda p: p.stem)
def rendered(request):
    return request.param.stem, render(CHART, [request.param], release="wms")


def test_helm_chart_renders_valid_kubernetes_objects(rendered):
    """Every core object validates strictly against the Kubernetes schema; CRDs have fields."""
    _, docs = rendered
    assert len(docs) >= 14
    for doc in docs:
        if doc["apiVersion"] in CRDS:
            assert doc["metadata"]["name"] and doc["spec"], doc
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_helm_chart_carries_the_instance_identity_and_secret(rendered):
    """instanceId reaches the pods' env and labels; the managed services come from its secret."""
    instance_id, docs = rendered
    objects = _by_kind(docs)
    config = objects[("ConfigMap", "wms-config")]["data"]
    assert config["WMS_INSTANCE_ID"] == instance_id
    assert not {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY"} & set(config)
    for doc, spec in _pod_specs(docs):
        assert doc["metadata"]["labels"]["wms.example.com/instance-id"] == instance_id
        for container in spec["containers"]:
            sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"wms-config", f"wms-{instance_id}-env"}


def test_helm_chart_processes_probes_resources_and_security(rendered):
    """web, worker, beat, relay and migrate: requests set, non-root, read-only root; web probes."""
    _, docs = rendered
    components = set()
    for doc, spec in _pod_specs(docs):
        components.add(doc["metadata"]["labels"]["app.kubernetes.io/component"])
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert components == {"web", "worker", "beat", "relay", "migrate"}
    web = _by_kind(docs)[("Deployment", "wms-web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_helm_chart_exactly_one_beat_and_migrations_before_the_rollout(rendered):
    """beat: 1 replica, Recreate, no autoscaler; migrate: a pre-install/pre-upgrade hook Job."""
    _, docs = rendered
    objects = _by_kind(docs)
    beat = objects[("Deployment", "wms-beat")]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    scaled = {
        d["spec"]["scaleTargetRef"]["name"] for d in docs if "scaleTargetRef" in d.get("spec", {})
    }
    assert "wms-beat" not in scaled
    job = objects[("Job", "wms-migrate")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == [
        "migrate",
        "--noinput",
    ]


def test_helm_chart_autoscales_web_on_cpu_and_workers_on_queue_depth(rendered):
    """web: HPA on CPU; worker: KEDA ScaledObject on the RabbitMQ queue and CPU; PDBs; zones."""
    _, docs = rendered
    objects = _by_kind(docs)
    web_hpa = objects[("HorizontalPodAutoscaler", "wms-web")]["spec"]
    assert web_hpa["metrics"][0]["resource"]["name"] == "cpu"
    triggers = objects[("ScaledObject", "wms-worker")]["spec"]["triggers"]
    assert [t["type"] for t in triggers] == ["rabbitmq", "cpu"]
    assert ("HorizontalPodAutoscaler", "wms-worker") not in objects  # KEDA owns that HPA
    assert {("PodDisruptionBudget", "wms-web"), ("PodDisruptionBudget", "wms-worker")} <= set(
        objects
    )
    for name in ("wms-web", "wms-worker", "wms-relay"):
        spread = objects[("Deployment", name)]["spec"]["template"]["spec"]
        assert spread["topologySpreadConstraints"][0]["topologyKey"] == (
            "topology.kubernetes.io/zone"
        )


def test_helm_chart_without_keda_falls_back_to_a_cpu_hpa(tmp_path):
    """keda.enabled false: the worker gets a plain CPU HPA and no ScaledObject."""
    override = tmp_path / "no-keda.yaml"
    override.write_text("worker:\n  keda:\n    enabled: false\n")
    objects = _by_kind(render(CHART, [INSTANCES[0], override]))
    assert ("HorizontalPodAutoscaler", "wms-worker") in objects
    assert ("ScaledObject", "wms-worker") not in objects


def test_argocd_application_per_instance():
    """One Argo CD Application per instance values file, into its own namespace."""
    apps = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "deploy" / "argocd").glob("*")}
    for values in INSTANCES:
        app = apps[values.stem]
        assert app["kind"] == "Application"
        assert app["spec"]["source"]["helm"]["valueFiles"] == [f"../instances/{values.name}"]
        assert app["spec"]["destination"]["namespace"] == f"wms-{values.stem}"


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed on this machine")
def test_helm_template_agrees_with_the_python_renderer():
    """Where helm exists: lint passes and its rendering equals ops/helm_render.py's."""
    subprocess.run(["helm", "lint", str(CHART), "-f", str(INSTANCES[0])], check=True)
    out = subprocess.run(
        ["helm", "template", "wms", str(CHART), "-f", str(INSTANCES[0])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    helm_docs = [d for d in yaml.safe_load_all(out) if d]
    assert _by_kind(helm_docs) == _by_kind(render(CHART, [INSTANCES[0]]))
