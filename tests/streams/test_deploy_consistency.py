"""The deployment files agree with the code: docker-compose.yml, deploy/Dockerfile,
deploy/k8s, deploy/prometheus and deploy/grafana against the settings model, the
variables the code reads, the metrics it registers and the worker's web port and probes.

Nothing here is a hand-kept list of settings: the names come from
``VigilSettings.model_fields`` and from the package sources when the test runs, so the
test follows the settings model as it grows. A ``VIGIL_*`` name set by a deployment file
and read by nothing (a typo, a removed setting) fails.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from streams.docs.settings_reference import OTHER_VARIABLES, setting_rows, source_environment_names
from streams.settings import VigilSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PACKAGES = ("signals", "streams", "notifiers")

# Names the deployment sets for code that is being wired in and does not read them yet.
# Remove an entry once its code reads the name (test_awaited_names_are_still_awaited
# fails to say so).
AWAITED_VARIABLES: dict[str, str] = {}
# Metrics the alerts and dashboard use that no code registers yet.
AWAITED_METRICS: dict[str, str] = {}


# -- loading -----------------------------------------------------------------------------


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml(ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += _documents(path)
    return docs


def _kind(manifests: list[dict[str, Any]], kind: str, name: str | None = None
          ) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind
             and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def _workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items()
            if isinstance(service.get("build"), dict)
            and service["build"].get("dockerfile") == "deploy/Dockerfile"}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = _kind(manifests, "Deployment", "vigil-worker")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in _dockerfile():
        if instruction == "ENV":
            for key, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", args):
                env[key] = value.strip('"')
    return env


# -- what the code reads -----------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every variable the settings model reads, from ``model_fields`` now."""
    assert VigilSettings.model_fields, "VigilSettings has no fields"
    return {row.env for row in setting_rows(VigilSettings)}


def _recipient_files(compose: dict[str, Any], manifests: list[dict[str, Any]]
                     ) -> Iterator[tuple[str, str]]:
    """(where, YAML text) of every recipients file the deployment mounts."""
    for _, target, source in _bind_mounts(compose):
        if PurePosixPath(target).name == "recipients.yaml" and source.is_file():
            yield str(source), source.read_text(encoding="utf-8")
    config = _kind(manifests, "ConfigMap", "vigil-config")
    if "recipients.yaml" in config["data"]:
        yield "vigil-config ConfigMap", config["data"]["recipients.yaml"]


def channel_secret_variables(compose: dict[str, Any], manifests: list[dict[str, Any]]
                             ) -> set[str]:
    """Variables the notifier channels read, as named by the recipients files
    (``password_env``, ``secret_env``)."""
    names = set()
    for _, text in _recipient_files(compose, manifests):
        for channel in (yaml.safe_load(text).get("channels") or {}).values():
            names |= {v for k, v in channel.items() if k.endswith("_env")}
    return names


def code_variables(compose: dict[str, Any], manifests: list[dict[str, Any]]) -> set[str]:
    return (settings_variables() | set(source_environment_names())
            | channel_secret_variables(compose, manifests))


def deployment_variables(compose: dict[str, Any], manifests: list[dict[str, Any]]
                         ) -> dict[str, set[str]]:
    """``VIGIL_*`` name → the files that set it."""
    used: dict[str, set[str]] = {}

    def add(names: Any, where: str) -> None:
        for name in names:
            if str(name).startswith("VIGIL_"):
                used.setdefault(str(name), set()).add(where)

    for name, service in compose["services"].items():
        add(_environment(service), f"docker-compose.yml:{name}")
    add(_dockerfile_env(), "deploy/Dockerfile")
    for m in manifests:
        where = f"deploy/k8s {m['kind']} {m['metadata']['name']}"
        if m["kind"] in ("ConfigMap", "Secret"):
            add((m.get("data") or {}) | (m.get("stringData") or {}), where)
    add((e["name"] for e in _container(manifests).get("env", [])), "deploy/k8s Deployment")
    return used


def test_settings_model_is_read_from_model_fields() -> None:
    names = settings_variables()
    assert names == {row.env for row in setting_rows()}
    assert all(name.startswith("VIGIL_") for name in names)
    assert "VIGIL_HMAC_KEY" in names


def test_every_vigil_variable_set_is_read_by_the_code(compose: dict[str, Any],
                                                      manifests: list[dict[str, Any]]) -> None:
    used = deployment_variables(compose, manifests)
    assert "VIGIL_HMAC_KEY" in used and "VIGIL_ESCALATION_LOG" in used
    known = code_variables(compose, manifests)
    unknown = {name: sorted(where) for name, where in used.items()
               if name not in known and name not in AWAITED_VARIABLES}
    assert not unknown, (f"set by the deployment but read by no code (typo?): {unknown}; "
                         f"the code reads {sorted(known)}")


def test_awaited_names_are_still_awaited(compose: dict[str, Any],
                                         manifests: list[dict[str, Any]]) -> None:
    now_read = set(AWAITED_VARIABLES) & code_variables(compose, manifests)
    assert not now_read, f"the code reads {sorted(now_read)} now: drop them from AWAITED_VARIABLES"
    registered = set(AWAITED_METRICS) & {name for name, _ in registered_metrics()}
    assert not registered, f"{sorted(registered)} are registered now: drop from AWAITED_METRICS"


def test_variables_read_outside_the_model_are_documented() -> None:
    outside = set(source_environment_names()) - settings_variables()
    assert outside == set(OTHER_VARIABLES), (
        "streams.docs.settings_reference.OTHER_VARIABLES must list exactly the VIGIL_* names the "
        f"code reads outside the settings model: {source_environment_names()}")


def test_secrets_are_in_secrets(compose: dict[str, Any], manifests: list[dict[str, Any]]) -> None:
    secret_settings = {row.env for row in setting_rows(VigilSettings) if row.secret}
    secrets = secret_settings | channel_secret_variables(compose, manifests) | {
        "VIGIL_ESCALATION_LOG", *AWAITED_VARIABLES.keys() - {"VIGIL_RECIPIENTS"}}
    env_map = _kind(manifests, "ConfigMap", "vigil-env")["data"]
    assert not secrets & set(env_map), "secrets belong in the Secret, not the ConfigMap"
    example = _kind(manifests, "Secret", "vigil-secrets")["stringData"]
    assert {"VIGIL_HMAC_KEY", "VIGIL_SASL_PASSWORD", "VIGIL_ESCALATION_LOG",
            "VIGIL_API_TOKENS"} <= set(example)
    assert all("REPLACE-ME" in value for value in example.values())
    assert example["VIGIL_ESCALATION_LOG"].startswith("postgresql://")
    for name, service in _workers(compose).items():
        key = _environment(service)["VIGIL_HMAC_KEY"]
        assert key.startswith("${VIGIL_HMAC_KEY:?"), f"{name}: the HMAC key must be required"


# -- services, ports, probes ------------------------------------------------------------


def web_port(env: dict[str, str]) -> int:
    """The worker's web port under ``env``: VIGIL_WEB_PORT, else the model's default."""
    field = VigilSettings.model_fields.get("web_port")
    assert field is not None, "VigilSettings has no web_port field"
    return int(env.get("VIGIL_WEB_PORT", field.default))


def test_compose_has_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {name: str(s.get("image", "")) for name, s in services.items()}
    assert images["kafka"].startswith("apache/kafka:")
    assert images["postgres"].startswith("postgres:16")
    assert images["prometheus"].startswith("prom/prometheus:")
    assert images["grafana"].startswith("grafana/grafana:")
    assert any(image.startswith("axllent/mailpit") for image in images.values())
    workers = _workers(compose)
    assert len(workers) == 2
    assert len({(w["build"]["context"], w.get("image")) for w in workers.values()}) == 1
    kafka = _environment(services["kafka"])
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_LISTENERS" in kafka
    for name, worker in workers.items():
        env = _environment(worker)
        host, _, port = env["VIGIL_BOOTSTRAP_SERVERS"].partition(":")
        assert host in services and f"PLAINTEXT://{host}:{port}" in kafka[
            "KAFKA_ADVERTISED_LISTENERS"], name
        assert env["VIGIL_STORE"].startswith("rocksdb://")
        assert env["VIGIL_ESCALATION_LOG"].startswith("postgresql://")
        assert "@postgres:5432/" in env["VIGIL_ESCALATION_LOG"]
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        for dependency in (service.get("depends_on") or {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        # The workers have the image's HEALTHCHECK; every other service declares its own.
        assert name in workers or "healthcheck" in service, f"{name} has no healthcheck"


def _container_port(entry: Any) -> int:
    text = str(entry["target"] if isinstance(entry, dict) else entry).split("/")[0]
    return int(text.rsplit(":", 1)[-1])


def test_worker_ports_are_the_web_port(compose: dict[str, Any],
                                       manifests: list[dict[str, Any]]) -> None:
    for name, worker in _workers(compose).items():
        port = web_port(_environment(worker))
        published = [_container_port(p) for p in worker.get("ports", [])]
        exposed = [_container_port(p) for p in worker.get("expose", [])]
        assert published and exposed, name
        assert set(published) == set(exposed) == {port}, name
    expose = [args for instruction, args in _dockerfile() if instruction == "EXPOSE"]
    assert expose == [str(web_port(_dockerfile_env()))]
    port = web_port(_kind(manifests, "ConfigMap", "vigil-env")["data"])
    (container_port,) = _container(manifests)["ports"]
    assert container_port == {"name": "web", "containerPort": port, "protocol": "TCP"}
    service = _kind(manifests, "Service", "vigil-worker")
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(port, "web")]
    pod = _kind(manifests, "Deployment", "vigil-worker")["spec"]["template"]["metadata"]
    for notes in (pod["annotations"], service["metadata"]["annotations"]):
        assert notes["prometheus.io/port"] == str(port)
        assert notes["prometheus.io/path"] == "/metrics"


def test_prometheus_scrapes_the_workers(compose: dict[str, Any]) -> None:
    config = _yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "vigil-worker"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    expected = {f"{name}:{web_port(_environment(w))}" for name, w in _workers(compose).items()}
    assert targets == expected
    mounts = {target: source for _, target, source in _bind_mounts(compose)}
    for rule_file in config["rule_files"]:
        directory = str(PurePosixPath(rule_file).parent)
        assert directory in mounts, f"{rule_file} is not mounted into prometheus"
        assert (mounts[directory] / PurePosixPath(rule_file).name).is_file()
    assert "alerts.yml" in {PurePosixPath(r).name for r in config["rule_files"]}


def test_probes_and_healthcheck_use_the_worker_endpoints(manifests: list[dict[str, Any]]
                                                         ) -> None:
    container = _container(manifests)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    (healthcheck,) = [a for i, a in _dockerfile() if i == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib.request" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")


def test_k8s_worker_deployment() -> None:
    docs = {d["kind"]: d for d in _documents(K8S / "worker-deployment.yaml")}
    deployment = docs["Deployment"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert "namespace" not in deployment["metadata"]
    assert spec["replicas"] == 2
    assert pod["terminationGracePeriodSeconds"] == 45  # shutdown takes at most 30 s
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["args"] == ["run", "--config", "/etc/vigil/config.yaml",
                                 "--rules", "/etc/vigil/rules.yaml"]
    assert {"memory", "cpu"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    sources = container["envFrom"]
    assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} == {"vigil-env"}
    assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} == {"vigil-secrets"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts.values()) <= set(volumes), "a volumeMount names an undeclared volume"
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "emptyDir" in volumes[mounts["/var/lib/vigil"]]  # working dir: RocksDB tables
    assert volumes[mounts["/etc/vigil"]]["configMap"]["name"] == "vigil-config"


def test_k8s_objects_fit_together(manifests: list[dict[str, Any]]) -> None:
    labels = _kind(manifests, "Deployment", "vigil-worker")["spec"]["template"]["metadata"][
        "labels"]
    selectors = [_kind(manifests, "Deployment", "vigil-worker")["spec"]["selector"]["matchLabels"],
                 _kind(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                 _kind(manifests, "Service", "vigil-worker")["spec"]["selector"]]
    for selector in selectors:
        assert selector.items() <= labels.items()
    assert _kind(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert all("namespace" not in m["metadata"] for m in manifests)
    kustomization = _yaml(K8S / "kustomization.yaml")
    listed = kustomization["resources"]
    assert all((K8S / name).is_file() for name in listed)
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk - {"secret.example.yaml"}  # placeholders never applied
    assert "namespace" not in kustomization


# -- volumes and mounted files ------------------------------------------------------------


def _bind_mounts(compose: dict[str, Any]) -> Iterator[tuple[str, str, Path]]:
    """(service, container path, repository path) of every bind mount."""
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) \
                else volume.split(":")[:2]
            if source.startswith((".", "/")):
                yield name, target, (ROOT / source).resolve()


def test_volumes_are_declared_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"
    assert {"kafka-data", "postgres-data", "grafana-data"} <= declared
    for name, worker in _workers(compose).items():
        named = [v.split(":") for v in worker["volumes"] if not v.startswith(".")]
        assert [target for _, target in named] == ["/var/lib/vigil"], name
    worker_volumes = [v.split(":")[0] for w in _workers(compose).values() for v in w["volumes"]
                      if not v.startswith(".")]
    assert len(set(worker_volumes)) == len(worker_volumes), "workers must not share a store"
    mounts = list(_bind_mounts(compose))
    assert mounts
    for service, target, source in mounts:
        assert source.exists(), f"{service}: {source} (mounted at {target}) does not exist"
        assert ROOT in source.parents, f"{service}: {source} is outside the repository"


def test_mounted_configuration_is_valid(compose: dict[str, Any],
                                        manifests: list[dict[str, Any]], tmp_path: Path) -> None:
    from notifiers.adapters.channels import build_notifiers
    from notifiers.recipients import load_recipients
    from notifiers.rules import load_rules
    from streams.pipeline.config import load_config

    worker = next(iter(_workers(compose)))
    files = {target: source for service, target, source in _bind_mounts(compose)
             if service == worker}
    config = _kind(manifests, "ConfigMap", "vigil-config")["data"]
    for name, text in config.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        files[f"configmap:{name}"] = path
    loaders = {"config.yaml": load_config, "rules.yaml": load_rules,
               "recipients.yaml": load_recipients}
    seen = set()
    for target, path in files.items():
        name = PurePosixPath(target.split(":")[-1]).name
        loaded = loaders[name](path)
        seen.add((target.startswith("configmap:"), name))
        if name == "recipients.yaml":
            secrets = {n: "x" for n in channel_secret_variables(compose, manifests)}
            assert build_notifiers(loaded, secrets)
    assert seen == {(c, n) for c in (False, True) for n in loaders}
    container_paths = {"/etc/vigil/config.yaml", "/etc/vigil/rules.yaml"}
    assert container_paths <= set(files)


def test_grafana_provisioning(compose: dict[str, Any]) -> None:
    grafana = ROOT / "deploy" / "grafana"
    (source,) = _yaml(grafana / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    port = _container_port(compose["services"]["prometheus"]["ports"][0])
    assert source["url"] == f"http://prometheus:{port}"
    (provider,) = _yaml(grafana / "provisioning" / "dashboards" / "vigil.yml")["providers"]
    mounts = {target: path for service, target, path in _bind_mounts(compose)
              if service == "grafana"}
    dashboards = [t for t in mounts if str(PurePosixPath(t).parent) == provider["options"]["path"]]
    assert [mounts[t].name for t in dashboards] == ["dashboard.json"]
    assert mounts["/etc/grafana/provisioning"] == grafana / "provisioning"


# -- metrics -----------------------------------------------------------------------------


def registered_metrics() -> set[tuple[str, str]]:
    """(name, type) of every prometheus_client metric the package sources define."""
    kinds = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                first = node.args[0]
                if (kind in kinds and isinstance(first, ast.Constant)
                        and isinstance(first.value, str) and first.value.startswith("vigil_")):
                    found.add((first.value, kind))
    return found


def exposed_names() -> set[str]:
    """The series names Prometheus sees (prometheus_client's suffixes)."""
    names = set()
    for name, kind in registered_metrics():
        if kind == "Counter":
            base = name.removesuffix("_total")
            names |= {base + "_total", base + "_created"}
        elif kind in ("Histogram", "Summary"):
            names |= {name + "_bucket", name + "_sum", name + "_count", name + "_created"}
        else:
            names.add(name)
    return names


def _metric_references() -> dict[str, set[str]]:
    texts = {"alerts.yml": (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(),
             "dashboard.json": (ROOT / "deploy" / "grafana" / "dashboard.json").read_text()}
    return {where: set(re.findall(r"\bvigil_[a-z0-9_]+", text)) - {"vigil_worker"}
            for where, text in texts.items()}


def test_alerts_and_dashboard_use_registered_metrics() -> None:
    exposed = exposed_names()
    assert "vigil_notifications_sent_total" in exposed
    for where, names in _metric_references().items():
        unknown = names - exposed - set(AWAITED_METRICS)
        assert not unknown, f"{where} uses metrics no code registers: {sorted(unknown)}"


def test_alert_rules() -> None:
    groups = _yaml(ROOT / "deploy" / "prometheus" / "alerts.yml")["groups"]
    rules = {r["alert"]: r for g in groups for r in g["rules"]}
    assert {"VigilWorkerDown", "VigilConsumerLagHigh", "VigilNotificationsFailing",
            "VigilNotificationDeadLettered", "VigilAuditChainBroken"} <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
    assert 'job="vigil-worker"' in rules["VigilWorkerDown"]["expr"]


def test_dashboard_panels() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboard.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for needle in ("vigil_events_consumed_total", "vigil_events_rejected_total[",
                   "sum by (level, direction) (increase(vigil_signals_total",
                   "histogram_quantile(0.5,", "histogram_quantile(0.99,",
                   "vigil_consumer_lag", "vigil_assigned_partitions",
                   "vigil_notifications_sent_total",
                   "vigil_notifications_failed_total",
                   # case workload (issue 14): each escalation process reports the same
                   # log's book, so instances are combined with max, never summed
                   "max by (route, lane) (vigil_cases_open)",
                   "max by (route, lane) (vigil_cases_awaiting_signoff)",
                   "max by (route, lane) (vigil_cases_overdue)"):
        assert needle in exprs, needle
    assert "sum(vigil_cases" not in exprs and "sum by (route, lane) (vigil_cases" not in exprs


# -- the image ----------------------------------------------------------------------------


def test_dockerfile() -> None:
    instructions = _dockerfile()
    froms = [a for i, a in instructions if i == "FROM"]
    args = dict(a.split("=", 1) for i, a in instructions if i == "ARG" and "=" in a)
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    users = [a for i, a in instructions if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("ENTRYPOINT", '["vigil"]') in instructions
    cmd = json.loads(next(a for i, a in instructions if i == "CMD"))
    assert cmd == ["run", "--config", "/etc/vigil/config.yaml", "--rules", "/etc/vigil/rules.yaml"]
    assert any(re.search(r'pip install "?\.(\[[\w,]+\])?"?', a)
               for i, a in instructions if i == "RUN")


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
                verdict = not negated
        return verdict

    for instruction, args in _dockerfile():
        if instruction == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not ignored(source), f".dockerignore keeps {source} out of the build"
    assert ignored(".env") and ignored(".venv") and ignored("tests/integration/test_worker.py")


def test_plain_install_includes_every_subpackage() -> None:
    """The image runs ``pip install .`` (not editable): every package must be listed."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = setuptools.get("packages", {})
    patterns = include.get("find", {}).get("include") if isinstance(include, dict) else None
    packages = {".".join(p.parent.relative_to(ROOT).parts)
                for name in PACKAGES for p in (ROOT / name).rglob("__init__.py")}
    assert "streams.pipeline.metric_kinds" in packages
    for package in packages:
        if patterns is not None:
            assert any(fnmatch.fnmatch(package, p) for p in patterns), package
        else:
            assert package in include, package


def test_the_kubernetes_rules_are_the_bundled_rules(manifests: list[dict[str, Any]],
                                                    tmp_path: Path) -> None:
    """The ConfigMap ships a copy of the default rules to adapt; as shipped it is the same
    rules (screening, routes by role), not a stale older copy."""
    from notifiers.rules import default_rules_path, load_rules

    path = tmp_path / "rules.yaml"
    path.write_text(_kind(manifests, "ConfigMap", "vigil-config")["data"]["rules.yaml"],
                    encoding="utf-8")
    assert load_rules(path).version == load_rules(default_rules_path()).version
