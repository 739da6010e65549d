"""The cluster launcher's configuration: nginx config, environment of the instances, model check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cluster import ENDPOINTS, Cluster, ClusterPlan, _redis_parts, plan_from_env, render_nginx_conf
from bot.signing import ModelRejected, sign_model


@pytest.fixture
def plan(tmp_path: Path) -> ClusterPlan:
    return ClusterPlan(model="m.tar.gz", database_url="postgresql://rasa:s3cret@db.internal:5433/renshe",
                       redis_url="redis://:pw@cache:6380/2", key_prefix="abc", public_port=18005,
                       rasa_ports=(18015, 18016), action_ports=(18065, 18066), action_lb_port=18055,
                       run_dir=tmp_path, listen="0.0.0.0")


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
    assert "type: bot.tracker_store.ResilientSQLTrackerStore" in text
    assert "type: bot.lock_store.AtomicRedisLockStore" in text


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


def test_the_cluster_listens_on_loopback_unless_told_otherwise():
    assert plan_from_env("m.tar.gz", {}).listen == "127.0.0.1"
    assert plan_from_env("m.tar.gz", {"CLUSTER_LISTEN": "0.0.0.0"}).listen == "0.0.0.0"
