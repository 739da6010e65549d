"""The deployment artefacts agree with each other and with the code (no Docker engine needed).

deploy/docker/Dockerfile.{rasa,actions}, deploy/docker/compose.yml, deploy/helm/*.yaml and
deploy/docker/entrypoint.py are checked here for: one image scheme, variables that exist (in
.env.example or read by the code), commands that name importable modules, the ports 5005/5055/8000/8001,
health-check paths that the servers serve, and the launcher's exact Rasa command line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
HELM = ROOT / "deploy" / "helm"
ENV_EXAMPLE = ROOT / ".env.example"
_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")

# Variables that neither .env.example lists nor our code reads, each with its reader.
THIRD_PARTY_VARIABLES = {
    "POSTGRES_USER": "postgres image", "POSTGRES_PASSWORD": "postgres image", "POSTGRES_DB": "postgres image",
    "RASA_TELEMETRY_ENABLED": "Rasa", "SANIC_REQUEST_MAX_SIZE": "Sanic (Rasa's web server)",
    "SANIC_HOST": "rasa_sdk",
}

ENTRYPOINT_MODULES = {"widget": ("widget",), "console": ("console",)}
LAUNCHERS = ("ops.launcher",)


def _variables(path: Path) -> set[str]:
    """``${VAR}`` references of a YAML file, comments left out."""
    lines = (line.split(" #", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#"))
    return set(_VAR.findall("\n".join(lines)))


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _entrypoint():
    spec = importlib.util.spec_from_file_location("renshe_entrypoint", DOCKER / "entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exists(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return False
    return spec is not None and spec.origin is not None  # not a bare directory (namespace package)


def _first_existing(names) -> str:
    found = [n for n in names if _exists(n)]
    assert found, f"none of {names} exists"
    return found[0]


@pytest.fixture(scope="module")
def compose() -> dict:
    return _load(DOCKER / "compose.yml")


@pytest.fixture(scope="module")
def helm() -> dict:
    return _load(HELM / "values.yaml")


@pytest.fixture(scope="module")
def helm_actions() -> dict:
    return _load(HELM / "actions-values.yaml")


@pytest.fixture(scope="module")
def entrypoint():
    return _entrypoint()


# --- Dockerfiles ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, port, role", [("Dockerfile.rasa", 5005, "rasa"), ("Dockerfile.actions", 5055, "actions")])
def test_dockerfile_installs_like_the_makefile_and_runs_unprivileged(name, port, role):
    text = (DOCKER / name).read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.10-slim" in text
    assert re.search(r"uv pip install .*--no-deps -r constraints\.txt", text)
    assert re.search(r"uv pip install .*--no-deps -e \.", text)
    uv = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M).group(1)
    assert f"ARG UV_VERSION={uv}" in text, "the image's uv differs from the Makefile's"
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("0", "root"), "the runtime stage must not run as root"
    assert re.search(rf"^EXPOSE {port}$", text, re.M)
    assert re.search(rf'^HEALTHCHECK .*\n\s+CMD \["python", "/app/deploy/docker/entrypoint.py", "healthcheck", "{role}"\]',
                     text, re.M)
    assert 'ENTRYPOINT ["python", "/app/deploy/docker/entrypoint.py"]' in text
    assert f'CMD ["{role}"]' in text
    # no model in the image: nothing copies models/ in, and .dockerignore keeps it out of the context
    assert not re.search(r"^COPY .*models", text, re.M)


def test_the_two_builder_stages_are_identical():
    def builder(name: str) -> str:
        text = (DOCKER / name).read_text(encoding="utf-8")
        return text[text.index("FROM ${PYTHON_IMAGE} AS builder"):text.index("\n# ---", text.index("AS builder"))]

    assert builder("Dockerfile.rasa") == builder("Dockerfile.actions")


def test_dockerignore_keeps_environment_models_and_caches_out():
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for needed in (".venv", "models", "var", "node_modules", ".pytest_cache", ".ruff_cache", ".mypy_cache",
                   "**/__pycache__", ".env", ".git"):
        assert needed in entries, needed


# --- one image scheme ------------------------------------------------------------------------------------
def test_compose_and_helm_name_the_same_images(compose, helm, helm_actions):
    services = compose["services"]
    rasa_image = "${RENSHE_REGISTRY:-renshe}/rasa:${RENSHE_TAG:-dev}"
    actions_image = "${RENSHE_REGISTRY:-renshe}/actions:${RENSHE_TAG:-dev}"
    for name in ("rasa-1", "rasa-2", "init", "nginx-conf", "widget", "console"):
        assert services[name]["image"] == rasa_image, name
    for name in ("actions-1", "actions-2"):
        assert services[name]["image"] == actions_image, name
    assert helm["image"]["repository"].endswith("/" + helm["image"]["name"]) and helm["image"]["name"] == "rasa"
    assert helm_actions["image"]["repository"].endswith("/actions") and helm_actions["image"]["name"] == "actions"
    # the same default tag; real deployments pass the commit (make docker-build, --set image.tag=)
    assert str(helm["image"]["tag"]) == str(helm_actions["image"]["tag"]) == "dev"
    job = _load(HELM / "init-job.yaml")
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == f"{helm['image']['repository']}:{helm['image']['tag']}"


def test_compose_has_the_cluster_layout(compose):
    services = compose["services"]
    assert {"rasa-1", "rasa-2", "actions-1", "actions-2", "nginx", "postgres", "redis"} <= set(services)
    assert services["rasa-1"]["environment"]["RASA_ENDPOINTS"] == "deploy/endpoints.prod.yml"
    assert any(v.endswith(":/app/models:ro") for v in services["rasa-1"]["volumes"]), "the model is mounted read-only"
    assert "5005:5005" in services["nginx"]["ports"][0]
    assert services["widget"]["ports"][0].endswith(":8000:8000") and services["console"]["ports"][0].endswith(":8001:8001")
    proxy = services["nginx"]["networks"]["backend"]["ipv4_address"]
    assert services["rasa-1"]["environment"]["TRUSTED_PROXIES"] == proxy


# --- variables ----------------------------------------------------------------------------------------------
def _documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))


def _read_by_code() -> set[str]:
    names: set[str] = set()
    dirs = [ROOT / d for d in ("bot", "actions", "knowledge", "console", "widget", "ops", "evaluation")]
    files = [p for d in dirs if d.is_dir() for p in d.rglob("*.py")] + [DOCKER / "entrypoint.py"]
    for path in files:
        names |= set(re.findall(r"""["']([A-Z][A-Z0-9_]{2,})["']""", path.read_text(encoding="utf-8")))
    return names


def _compose_variables(compose: dict) -> set[str]:
    names = _variables(DOCKER / "compose.yml")
    for service in compose["services"].values():
        names |= set((service.get("environment") or {}).keys())
    return names


def _helm_variables(*values: dict) -> set[str]:
    names: set[str] = set()
    for path in (HELM / "values.yaml", HELM / "actions-values.yaml", HELM / "init-job.yaml"):
        names |= _variables(path)
    for value in values:
        names |= {e["name"] for e in value.get("extraEnv", [])}
    job = _load(HELM / "init-job.yaml")
    names |= {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    return names


def test_every_variable_is_documented_or_read_by_the_code(compose, helm, helm_actions):
    known = _documented() | _read_by_code() | set(THIRD_PARTY_VARIABLES)
    unknown = (_compose_variables(compose) | _helm_variables(helm, helm_actions)) - known
    assert not unknown, f"variables nobody reads: {sorted(unknown)}"


def test_compose_and_helm_give_rasa_every_variable_endpoints_prod_needs(compose, helm):
    needed = _variables(ROOT / "deploy" / "endpoints.prod.yml")
    assert needed, "endpoints.prod.yml reads its hosts and secrets from variables"
    for name in ("rasa-1", "rasa-2"):
        assert needed <= set(compose["services"][name]["environment"]), name
    assert needed <= {e["name"] for e in helm["extraEnv"]}


def test_compose_and_helm_use_the_same_names_for_what_they_share(compose, helm, helm_actions):
    rasa_compose = set(compose["services"]["rasa-1"]["environment"])
    rasa_helm = {e["name"] for e in helm["extraEnv"]}
    # what Helm sets, compose sets too (compose adds DATABASE_URL etc. because it shares one env block)
    assert rasa_helm <= rasa_compose, sorted(rasa_helm - rasa_compose)
    assert {e["name"] for e in helm_actions["extraEnv"]} - {"BOT_HOST"} <= set(compose["services"]["actions-1"]["environment"])


# --- commands and modules ---------------------------------------------------------------------------------
def test_every_role_names_modules_that_exist(compose, helm, helm_actions, entrypoint):
    roles = {s["command"][0] for s in compose["services"].values() if s.get("image", "").startswith("${RENSHE")}
    roles |= {helm["args"][0], helm_actions["args"][0], _load(HELM / "init-job.yaml")["spec"]["template"]["spec"]
              ["containers"][0]["args"][0]}
    assert roles == {"rasa", "actions", "init", "nginx-conf", "widget", "console"}
    for values in (helm, helm_actions):
        assert values["command"] == ["python", "/app/deploy/docker/entrypoint.py"]
    for role in roles - {"nginx-conf"}:
        argv = entrypoint.command(role)
        modules = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-m"]
        assert modules and all(_exists(m) for m in modules), (role, modules)
    for role, names in ENTRYPOINT_MODULES.items():
        assert entrypoint.module(role) == _first_existing(names)
    for role in entrypoint.MODULES:
        entrypoint.module(role)  # raises when none of the names exists


def test_rasa_starts_through_the_speedups_with_the_launchers_command_line(entrypoint, monkeypatch):
    for name in ("RASA_SPEEDUPS", "RASA_API_TOKEN", "RASA_CORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_HOST", "0.0.0.0")
    monkeypatch.setenv("RASA_ENDPOINTS", "deploy/endpoints.prod.yml")
    monkeypatch.setenv("RASA_CREDENTIALS", "credentials.yml")
    launcher = importlib.import_module(_first_existing(LAUNCHERS))
    expected = launcher.bot_services("/app/models/m.tar.gz", rasa_port=5005, action_port=5055)[1].argv
    assert entrypoint.rasa_argv("/app/models/m.tar.gz") == list(expected)
    assert entrypoint.rasa_argv("m")[1:3] == ["-m", "bot.speedups"]
    monkeypatch.setenv("RASA_API_TOKEN", "t0ken")
    assert entrypoint.rasa_argv("m")[-3:] == ["--enable-api", "--auth-token", "t0ken"]


def test_rasa_refuses_a_model_without_its_manifest(tmp_path):
    model = tmp_path / "rs-000000000000.tar.gz"
    model.write_bytes(b"not a model")
    env = {**os.environ, "RASA_MODEL": str(model), "APP_ENV": "development"}
    done = subprocess.run([sys.executable, str(DOCKER / "entrypoint.py"), "rasa"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "refusing to start" in done.stderr and "manifest" in done.stderr


def test_rasa_refuses_development_keys_in_production(tmp_path):
    from bot.signing import sign_model

    model = tmp_path / "rs-000000000000.tar.gz"
    model.write_bytes(b"not a model")
    sign_model(model, env={})
    env = {k: v for k, v in os.environ.items() if k not in ("PII_HASH_KEY", "MODEL_SIGNING_KEY", "RASA_ENV")}
    env.update(RASA_MODEL=str(model), APP_ENV="production")
    done = subprocess.run([sys.executable, str(DOCKER / "entrypoint.py"), "rasa"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "PII_HASH_KEY" in done.stderr


# --- ports and health checks ---------------------------------------------------------------------------------
def test_ports(entrypoint, helm, helm_actions):
    assert (entrypoint.RASA_PORT, entrypoint.ACTION_PORT, entrypoint.WIDGET_PORT, entrypoint.CONSOLE_PORT) == (
        5005, 5055, 8000, 8001)
    assert helm["applicationSettings"]["port"] == 5005 and helm_actions["applicationSettings"]["port"] == 5055
    assert "5005" in entrypoint.rasa_argv("m") and entrypoint.command("actions")[-1] == "5055"


def _served_paths() -> dict[str, str]:
    """Where each health path is served, as the source says."""
    sdk = Path(importlib.util.find_spec("rasa_sdk").origin).parent / "endpoint.py"
    rasa_server = Path(importlib.util.find_spec("rasa").origin).parent / "server.py"
    widget = Path(importlib.util.find_spec(_first_existing(ENTRYPOINT_MODULES["widget"])).origin)
    console_pkg = Path(importlib.util.find_spec(_first_existing(ENTRYPOINT_MODULES["console"])).origin).parent
    return {
        "/health": sdk.read_text(encoding="utf-8"),
        "/": rasa_server.read_text(encoding="utf-8"),
        "/healthz": widget.read_text(encoding="utf-8") + "".join(p.read_text(encoding="utf-8")
                                                                 for p in console_pkg.glob("*.py")),
        "/nginx-health": (ROOT / "deploy" / "nginx.conf.template").read_text(encoding="utf-8"),
    }


def test_health_check_paths_are_served(entrypoint, helm, helm_actions):
    served = _served_paths()
    assert '@app.get("/health")' in served["/health"]
    assert '@app.get("/")' in served["/"]
    assert served["/healthz"].count('"/healthz"') >= 2, "the widget and the console serve /healthz"
    assert "location = /nginx-health" in served["/nginx-health"]
    # /webhooks/rest/ is the GET of our REST channel's blueprint ("rest" under Rasa's /webhooks/)
    rest = Path(importlib.util.find_spec("bot.channels.rest").origin).read_text(encoding="utf-8")
    assert '@webhook.route("/", methods=["GET"])' in rest and 'return "rest"' in rest
    paths = {url.split(":", 2)[2].split("/", 1)[1] for url in entrypoint.HEALTH.values()}
    assert {"/" + p for p in paths} == {"/webhooks/rest/", "/health", "/healthz"}
    assert helm["readinessProbe"]["httpGet"]["path"] == "/webhooks/rest/"
    assert helm["livenessProbe"]["httpGet"]["path"] == "/"
    assert helm_actions["readinessProbe"]["httpGet"]["path"] == "/health"
    compose = (DOCKER / "compose.yml").read_text(encoding="utf-8")
    assert "http://127.0.0.1:5005/nginx-health" in compose


# --- nginx for containers ------------------------------------------------------------------------------------
def test_nginx_conf_for_compose_is_complete(entrypoint, tmp_path):
    text = entrypoint.render_nginx_conf(["rasa-1", "rasa-2"], ["actions-1", "actions-2"], str(tmp_path))
    assert "{{" not in text
    assert text.count("server rasa-1:5005 max_fails=1 fail_timeout=5s;") == 2  # round robin + sticky
    assert "server actions-2:5055" in text and "listen 0.0.0.0:5005;" in text and "listen 0.0.0.0:5055;" in text
    assert "127.0.0.1:" not in text.split("upstream rasa {", 1)[1].split("server {", 1)[0]
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return  # the syntax check below needs nginx (make nginx-deps); `make test` has it
    # why: nginx -t resolves upstream host names, which exist only inside compose: loopback stands in.
    for host, address in (("rasa-1", "127.0.0.1"), ("rasa-2", "127.0.0.2"), ("actions-1", "127.0.0.1"),
                          ("actions-2", "127.0.0.2")):
        text = text.replace(f"server {host}:", f"server {address}:")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    done = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


# --- compose itself ------------------------------------------------------------------------------------------
def test_compose_config_validates_without_an_engine(tmp_path):
    """``docker compose config`` (or Debian's docker-compose) parses the file; no engine is needed."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
    env = {**os.environ, "MODEL_FILE": "rs-000000000000.tar.gz", "RENSHE_TAG": "abc1234"}
    done = subprocess.run([*command, "-p", "renshe", "-f", str(DOCKER / "compose.yml"), "config"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]["rasa-1"]["image"] == "renshe/rasa:abc1234"
    assert resolved["services"]["rasa-1"]["environment"]["RASA_MODEL"] == "/app/models/rs-000000000000.tar.gz"
