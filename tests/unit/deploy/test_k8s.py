"""deploy/k8s, rendered by the pinned Kustomize (`kgo infra kustomize` builds it) for both
overlays and checked offline: built-in kinds against Kubernetes' own schemas
(kubernetes-validate), the operators' resources against the CRD schemas committed in
deploy/k8s/crds; then what the schemas cannot say: probes, limits, non-root, the topics and
partitions the code names, who may write where, who may reach whom."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kgo_cli.infra.tools import kustomize_path
from kgo_cli.status_cmd import settings_class
from kgo_contracts.topics import ALL_TOPICS, DIGESTS, EVENT_TOPICS, dlq
from kgo_runtime.kafka_security import KafkaSecuritySettings, kafka_client_options
from kgo_runtime.settings import PROJECT_ROOT, SERVICE_NAMES, SERVICE_PORTS, InfraSettings

from .settings_env import service_env

pytestmark = pytest.mark.unit

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("dev", "prod")
CRD_SCHEMAS = {
    (s["properties"]["apiVersion"]["const"], s["properties"]["kind"]["const"]): s
    for s in (json.loads(p.read_text()) for p in sorted((K8S / "crds").glob("*.json")))
}


def produces(service: str) -> str | None:
    settings = settings_class(service)()
    return getattr(settings, "events_topic", None)


def consumes(service: str) -> set[str]:
    """The topics ``service`` reads: its settings' ``*_topic`` fields other than its own."""
    settings = settings_class(service)()
    own = produces(service)
    return {
        getattr(settings, name)
        for name in type(settings).model_fields
        if name.endswith("_topic") and name != "events_topic" and getattr(settings, name) != own
    }


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    kustomize = kustomize_path()
    if not kustomize.exists():
        pytest.fail("kustomize is missing: run `uv run kgo infra kustomize` (scripts/test does)")
    done = subprocess.run(
        [str(kustomize), "build", str(K8S / "overlays" / request.param)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return request.param, [d for d in yaml.safe_load_all(done.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_resource_is_valid_against_its_schema(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, docs = rendered
    kinds = defaultdict(int)
    for doc in docs:
        kinds[doc["kind"]] += 1
        key = (doc["apiVersion"], doc["kind"])
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        if key in CRD_SCHEMAS:
            errors = list(jsonschema.Draft202012Validator(CRD_SCHEMAS[key]).iter_errors(doc))
            assert not errors, f"{where}: {[e.message for e in errors]}"
        else:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{where}: {error.message} at {list(error.path)}")
        assert doc["metadata"].get("namespace") == ("kgo" if overlay == "prod" else "kgo-dev")
    per_service = ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler",
                   "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "KafkaUser",
                   "Cluster")  # fmt: skip
    for kind in per_service:
        assert kinds[kind] == len(SERVICE_NAMES), kind
    assert kinds["Kafka"] == 1 and kinds["KafkaNodePool"] == 1
    assert kinds["KafkaTopic"] == len(ALL_TOPICS)


def test_a_schema_refuses_a_typo() -> None:
    topic = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
             "metadata": {"name": "t"}, "spec": {"partition": 6}}  # fmt: skip
    schema = CRD_SCHEMAS[("kafka.strimzi.io/v1beta2", "KafkaTopic")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, schema)


def test_deployments_probe_limit_and_run_unprivileged(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    deployments = by_kind(docs, "Deployment")
    for service in SERVICE_NAMES:
        pod = deployments[f"kgo-{service}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["serve", service]
        assert container["ports"][0]["containerPort"] == SERVICE_PORTS[service]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert writable == {"/tmp", "/var/lib/kgo"}


def test_every_variable_is_a_settings_field_and_secrets_come_by_reference(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    deployments, config_maps = by_kind(docs, "Deployment"), by_kind(docs, "ConfigMap")
    clusters = by_kind(docs, "Cluster")
    for service in SERVICE_NAMES:
        (container,) = deployments[f"kgo-{service}"]["spec"]["template"]["spec"]["containers"]
        (source,) = container["envFrom"]
        config = config_maps[source["configMapRef"]["name"]]["data"]
        env = {e["name"]: e for e in container["env"]}
        known = service_env(service)
        given = set(config) | set(env)
        assert given <= set(known), f"{service}: not settings fields: {given - set(known)}"
        assert {n for n, required in known.items() if required} <= given
        assert all("valueFrom" in e for e in env.values()), "plain values belong in the ConfigMap"
        prefix = service.upper()
        assert config[f"{prefix}_HTTP_PORT"] == str(SERVICE_PORTS[service])
        database = env[f"{prefix}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert database == {"name": f"kgo-{service}-db-app", "key": "uri"}
        assert clusters[f"kgo-{service}-db"]["spec"]["bootstrap"]["initdb"]["database"] == (
            InfraSettings().database_name(service)
        )
        if service != "wallet":
            assert config[f"{prefix}_WALLET_URL"] == "http://kgo-wallet:8101"


def test_topics_are_the_codes_with_its_partitions_and_kept_forever(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, docs = rendered
    topics = {t["spec"]["topicName"]: t["spec"] for t in by_kind(docs, "KafkaTopic").values()}
    assert set(topics) == set(ALL_TOPICS)
    brokers = by_kind(docs, "KafkaNodePool")["dual-role"]["spec"]["replicas"]
    for name, spec in topics.items():
        assert spec["partitions"] == InfraSettings().topic_partitions, name
        assert spec["config"]["retention.ms"] == -1 and spec["config"]["cleanup.policy"] == "delete"
        assert spec["config"]["min.insync.replicas"] < spec["replicas"] <= brokers or (
            spec["replicas"] == spec["config"]["min.insync.replicas"] == 1
        )
    if overlay == "prod":
        assert brokers == 3 and all(s["replicas"] == 3 for s in topics.values())


def test_autoscalers_never_exceed_the_partitions_a_service_reads(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    topics = {t["spec"]["topicName"]: t["spec"] for t in by_kind(docs, "KafkaTopic").values()}
    autoscalers = by_kind(docs, "HorizontalPodAutoscaler")
    deployments = by_kind(docs, "Deployment")
    for service in SERVICE_NAMES:
        spec = autoscalers[f"kgo-{service}"]["spec"]
        assert spec["scaleTargetRef"]["name"] == f"kgo-{service}"
        bound = min(topics[t]["partitions"] for t in consumes(service))
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"] <= bound
        assert deployments[f"kgo-{service}"]["spec"]["replicas"] <= spec["maxReplicas"]


def test_each_service_writes_only_its_own_topic(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    kafka = by_kind(docs, "Kafka")["kgo"]["spec"]["kafka"]
    assert kafka["authorization"]["type"] == "simple"
    (listener,) = kafka["listeners"]
    users = by_kind(docs, "KafkaUser")
    for service in SERVICE_NAMES:
        acls = users[f"kgo-{service}"]["spec"]["authorization"]["acls"]
        topic_ops = defaultdict(set)
        for acl in acls:
            if acl["resource"]["type"] == "topic":
                assert acl["resource"]["patternType"] == "literal"
                topic_ops[acl["resource"]["name"]] |= set(acl["operations"])
        writes = {t for t, ops in topic_ops.items() if "Write" in ops}
        own = produces(service)
        assert {t for t in writes if t in EVENT_TOPICS} == ({own} if own else set())
        digests = {DIGESTS} if service == "wallet" else set()  # its signed daily digests
        assert writes - set(EVENT_TOPICS) == {dlq(t) for t in consumes(service)} | digests
        assert {t for t, ops in topic_ops.items() if "Read" in ops} == consumes(service)
        groups = [a["resource"] for a in acls if a["resource"]["type"] == "group"]
        assert groups == [{"type": "group", "name": f"kgo.{service}", "patternType": "prefix"}]
        config = by_kind(docs, "ConfigMap")[f"kgo-{service}"]["data"]
        bootstrap = config[f"{service.upper()}_KAFKA_BOOTSTRAP"]
        assert bootstrap == f"kgo-kafka-bootstrap:{listener['port']}"


def test_each_service_logs_in_to_kafka_as_its_own_user(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    (listener,) = by_kind(docs, "Kafka")["kgo"]["spec"]["kafka"]["listeners"]
    assert listener["authentication"]["type"] == "scram-sha-512"
    protocol = "SASL_SSL" if listener["tls"] else "SASL_PLAINTEXT"
    users = by_kind(docs, "KafkaUser")
    deployments, config_maps = by_kind(docs, "Deployment"), by_kind(docs, "ConfigMap")
    for service in SERVICE_NAMES:
        pod = deployments[f"kgo-{service}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        config = config_maps[container["envFrom"][0]["configMapRef"]["name"]]["data"]
        env = {e["name"]: e["valueFrom"] for e in container["env"]}
        user = users[config["KGO_KAFKA_SASL_USERNAME"]]
        assert user["metadata"]["name"] == f"kgo-{service}"
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert config["KGO_KAFKA_SECURITY_PROTOCOL"] == protocol
        assert config["KGO_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        # Strimzi's User Operator keeps the password in the Secret named like the user.
        password = env["KGO_KAFKA_SASL_PASSWORD"]["secretKeyRef"]
        assert password == {"name": user["metadata"]["name"], "key": "password"}
        settings = KafkaSecuritySettings(
            security_protocol=config["KGO_KAFKA_SECURITY_PROTOCOL"],
            sasl_mechanism=config["KGO_KAFKA_SASL_MECHANISM"],
            sasl_username=config["KGO_KAFKA_SASL_USERNAME"],
            sasl_password="from-the-secret",
            ssl_ca_file=config.get("KGO_KAFKA_SSL_CA_FILE"),
        )
        if listener["tls"]:  # the cluster CA Strimzi publishes, mounted read-only
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            ca = settings.ssl_ca_file
            assert ca is not None and ca.name == "ca.crt"
            volume = next(v for v in pod["volumes"] if v["name"] == mounts[str(ca.parent)])
            assert volume["secret"]["secretName"] == "kgo-cluster-ca-cert"
        else:
            assert settings.ssl_ca_file is None
            assert kafka_client_options(settings)["sasl_plain_username"] == f"kgo-{service}"


def test_a_service_reaches_only_kafka_its_own_database_and_the_wallet(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    for service in SERVICE_NAMES:
        spec = policies[f"kgo-{service}"]["spec"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": f"kgo-{service}"}
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        reached = set()
        for rule in spec["egress"]:
            (peer,) = rule["to"]
            labels = peer["podSelector"]["matchLabels"]
            if "namespaceSelector" in peer:  # DNS, in kube-system
                assert labels == {"k8s-app": "kube-dns"}
                assert {p["port"] for p in rule["ports"]} == {53}
                continue
            reached.add(tuple(sorted(labels.items())))
        expected = {
            (("strimzi.io/cluster", "kgo"), ("strimzi.io/kind", "Kafka")),
            (("cnpg.io/cluster", f"kgo-{service}-db"),),
        }
        if service != "wallet":
            expected.add((("app.kubernetes.io/name", "kgo-wallet"),))
        assert reached == expected, service


def test_services_monitors_and_budgets_select_the_pods(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    services, monitors = by_kind(docs, "Service"), by_kind(docs, "ServiceMonitor")
    budgets = by_kind(docs, "PodDisruptionBudget")
    deployments = by_kind(docs, "Deployment")
    for service in SERVICE_NAMES:
        name = f"kgo-{service}"
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        for selector in (services[name]["spec"]["selector"],
                         budgets[name]["spec"]["selector"]["matchLabels"]):  # fmt: skip
            assert selector.items() <= pod_labels.items()
        monitor = monitors[name]["spec"]
        service_labels = services[name]["metadata"]["labels"]
        assert monitor["selector"]["matchLabels"].items() <= service_labels.items()
        assert [(e["port"], e["path"]) for e in monitor["endpoints"]] == [("http", "/metrics")]
        assert "http" in {p["name"] for p in services[name]["spec"]["ports"]}
