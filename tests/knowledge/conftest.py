"""Fixtures of the knowledge tests: fixture content (files under tests/data/knowledge/) and a
database per backend.

Every DB-touching test runs on BOTH backends: a temporary SQLite file and a fresh PostgreSQL
database ``kb_test_<random>`` created for the session on ``KB_TEST_PG_URL``
(default postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end. If PostgreSQL is
down the suite tries ``pg_ctlcluster … start``; if it stays down the PostgreSQL cases are skipped,
except when ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from knowledge import models
from knowledge.build import build
from knowledge.content import load_content
from knowledge.db import dispose_engine, get_engine
from knowledge.settings import Settings
from knowledge.userdict import render, write

from .helpers import FIXTURE_CONTENT

PG_ADMIN_URL = os.environ.get("KB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_connect(url: str):
    import psycopg2

    u = make_url(url)
    return psycopg2.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=u.database,
        connect_timeout=3,
    )


def _pg_up() -> bool:
    try:
        _pg_connect(PG_ADMIN_URL).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def _try_start_pg() -> None:
    """Start the local cluster (guarded: only where pg_ctlcluster and /etc/postgresql exist)."""
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )
    for _ in range(20):
        if _pg_up():
            return
        time.sleep(0.5)


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Callable[[], str]]:
    """Factory of fresh PostgreSQL databases ``kb_test_<random>``, all dropped at session end."""
    if not _pg_up():
        _try_start_pg()
    if not _pg_up():
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    admin = _pg_connect(PG_ADMIN_URL)
    admin.autocommit = True
    created: list[tuple[str, str]] = []

    def create() -> str:
        name = f"kb_test_{uuid.uuid4().hex[:10]}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        created.append((name, url))
        return url

    try:
        yield create
    finally:
        for name, url in created:
            dispose_engine(url)
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(scope="session")
def pg_database_url(pg_databases: Callable[[], str]) -> str:
    """The PostgreSQL database that function-scoped tests empty and rebuild."""
    return pg_databases()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty knowledge database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.db'}"
        yield url
        dispose_engine(url)
        return
    url = request.getfixturevalue("pg_database_url")
    models.Base.metadata.drop_all(get_engine(url))  # isolation between tests sharing the session DB
    yield url


@pytest.fixture(scope="session")
def fixture_userdict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The jieba user dictionary of the fixture content (one per session: jieba is slow to load)."""
    path = tmp_path_factory.mktemp("dict") / "userdict.txt"
    write(path, render(load_content(FIXTURE_CONTENT)))
    return path


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture content, for tests that tamper with it."""
    target = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, target)
    return target


@pytest.fixture
def kb_settings(database_url: str, fixture_userdict: Path) -> Settings:
    return Settings(database_url=database_url, content_dir=FIXTURE_CONTENT, userdict_path=fixture_userdict)


@pytest.fixture
def built_kb(kb_settings: Settings) -> Settings:
    """Settings of a database holding the fixture knowledge base."""
    build(kb_settings, force=True)
    return kb_settings


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_kb(request, tmp_path_factory: pytest.TempPathFactory, fixture_userdict: Path) -> Settings:
    """The fixture KB built ONCE per backend for read-only tests (service, search), in its own database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('shared_kb') / 'kb.db'}"
    else:
        url = request.getfixturevalue("pg_databases")()
    settings = Settings(database_url=url, content_dir=FIXTURE_CONTENT, userdict_path=fixture_userdict)
    build(settings, force=True)
    return settings
