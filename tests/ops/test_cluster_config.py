"""The cluster launcher's configuration: nginx config, environment of the instances, model check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.signing import ModelRejected, sign_model
from ops.cluster import ENDPOINTS, Cluster, ClusterPlan, _redis_parts, plan_from_env, render_nginx_conf


@pytest.fixture
def plan(tmp_path: Path) -> ClusterPlan:
    return ClusterPlan(model="m.tar.gz", database_url="postgresql://rasa:s3cret@db.internal:5433/renshe",
                       redis_url="redis://:pw@cache:6380/2", key_prefix="abc", public_port=18005,
                       rasa_ports=(18015, 18016), action_ports=(18065, 18066), action_lb_port=18055,
                       run_dir=tmp_path, listen="0.0.0.0")


@pytest.mark.cluster  # runs nginx -t
def test_nginx_conf_is_complete_and_valid(plan: ClusterPlan):
    conf = render_nginx_conf(plan)
    text = conf.read_text(encoding="utf-8")
    assert "{{" not in text
    for expected in ("listen 0.0.0.0:18005", "127.0.0.1:18015 max_fails=1", "127.0.0.1:18066 max_fails=1",
                     "listen 127.0.0.1:18055", "client_max_body_size 64k", "if ($http_content_encoding)", "proxy_next_upstream error timeout",
                     "hash $remote_addr consistent", "Upgrade $http_upgrade"):
        assert expected in text
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.fail("nginx is not installed: make nginx-deps")
    checked = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(plan.run_dir), "-e",
                              str(plan.run_dir / "t.log")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_instances_get_every_variable_endpoints_prod_needs(plan: ClusterPlan):
    env = plan.shared_env()
    needed = set(re.findall(r"\$\{(\w+)\}", ENDPOINTS.read_text(encoding="utf-8"))) - {"VAR"}  # VAR: a comment
    assert len(needed) >= 10
    assert needed <= set(env)
    assert (env["TRACKER_DB_HOST"], env["TRACKER_DB_PORT"], env["TRACKER_DB_NAME"]) == ("db.internal", "5433", "renshe")
    assert (env["TRACKER_DB_USER"], env["TRACKER_DB_PASSWORD"]) == ("rasa", "s3cret")
    assert (env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_LOCK_DB"], env["REDIS_PASSWORD"]) == (
        "cache", "6380", "2", "pw")
    assert env["ACTION_SERVER_URL"] == "http://127.0.0.1:18055/webhook"
    assert env["LOCK_KEY_PREFIX"].isalnum()
    assert _redis_parts("redis://127.0.0.1:6379")["db"] == "0"


def test_endpoints_prod_holds_no_secret():
    # why: plain text, not YAML: importing Rasa makes every YAML loader expand ${VAR}.
    text = ENDPOINTS.read_text(encoding="utf-8")
    assert re.search(r"^  password: \$\{TRACKER_DB_PASSWORD\}$", text, re.M)
    assert re.search(r"^  password: \$\{REDIS_PASSWORD\}$", text, re.M)
    assert "type: bot.stores.tracker_store.ResilientSQLTrackerStore" in text
    assert "type: bot.stores.lock_store.AtomicRedisLockStore" in text


def test_cluster_refuses_a_model_that_is_not_ours(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MODEL_SIGNING_KEY", raising=False)
    model = tmp_path / "rs-x.tar.gz"
    model.write_bytes(b"ours")
    sign_model(model)
    model.write_bytes(b"not ours")
    cluster = Cluster(ClusterPlan(model=str(model), database_url="postgresql://nobody@127.0.0.1:9/x",
                                  run_dir=tmp_path / "run"))
    with pytest.raises(ModelRejected):
        cluster.prepare()  # refused before touching the database or starting anything
    assert cluster.services == []


@pytest.mark.parametrize(("value", "cpus", "expected"), [
    (None, 1, 1),      # a one-core machine: one process
    (None, 2, 2),      # auto: one per core
    ("auto", 16, 4),   # at most 4 by default
    ("3", 1, 3),       # an explicit number wins over the core count
    ("1", 8, 1),
])
def test_wanted_processes(value, cpus, expected):
    from ops.cluster import wanted_processes

    env = {} if value is None else {"RASA_PROCESSES": value}
    assert wanted_processes(env, cpus=cpus) == expected


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_wanted_processes_refuses_nonsense(value):
    from ops.cluster import wanted_processes

    with pytest.raises(ValueError):
        wanted_processes({"RASA_PROCESSES": value}, cpus=4)


def test_nginx_conf_has_one_upstream_line_per_instance(tmp_path: Path):
    plan = ClusterPlan(model="m.tar.gz", public_port=18105, rasa_ports=(18115, 18116, 18117, 18118),
                       action_ports=(18165,), action_lb_port=18155, run_dir=tmp_path)
    text = render_nginx_conf(plan).read_text(encoding="utf-8")
    for port in (18115, 18116, 18117, 18118):
        # why: twice: the round-robin upstream and the sticky one for socket.io
        assert text.count(f"server 127.0.0.1:{port} max_fails=1") == 2
    assert text.count("server 127.0.0.1:18165 max_fails=1") == 1
    assert "18166" not in text


def test_several_processes_need_shared_stores(tmp_path: Path):
    from ops.cluster import shared_stores_missing

    plan = ClusterPlan(model="m.tar.gz", database_url="postgresql://nobody@127.0.0.1:9/x", run_dir=tmp_path,
                       nginx="/bin/true")
    assert "PostgreSQL" in shared_stores_missing(plan, timeout=1)
    assert "nginx" in shared_stores_missing(ClusterPlan(model="m", nginx="/no/such/nginx"))


def test_make_run_falls_back_to_one_process_without_shared_stores(monkeypatch, caplog):
    import argparse

    from ops import launcher

    monkeypatch.setenv("RASA_PROCESSES", "3")
    monkeypatch.setenv("CLUSTER_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/x")
    monkeypatch.setenv("NGINX", "/bin/true")
    args = argparse.Namespace(model="m.tar.gz", rasa_port=5005, action_port=5055, no_pages=True)
    with caplog.at_level("WARNING", logger="launcher"):
        assert launcher._several_processes(args) is None  # None: the launcher goes on with one process
    assert "one Rasa process, not 3: PostgreSQL" in caplog.text
def test_the_cluster_listens_on_loopback_unless_told_otherwise():
    assert plan_from_env("m.tar.gz", {}).listen == "127.0.0.1"
    assert plan_from_env("m.tar.gz", {"CLUSTER_LISTEN": "0.0.0.0"}).listen == "0.0.0.0"
