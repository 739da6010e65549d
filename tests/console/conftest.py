"""Fixtures for the trainer console: a copy of the project, settings, a fake bot, a live server.

The console never touches the repository's own ``data/`` here: every test works on a copy in a
temporary directory (``CONSOLE_PROJECT_ROOT``), with its own console database and var directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from console.app import create_app
from console.auth import Authenticator, load_secret
from console.settings import ConsoleSettings
from console.store import Store
from tests.console.support import PASSWORD, EmptyAppStore, FakeRasa, ServerThread, console_env, copy_project


def pytest_configure(config: pytest.Config) -> None:
    # why: --strict-markers; the project-wide list lives in pyproject.toml, this keeps the suite
    # runnable while `slow` is not listed there.
    config.addinivalue_line("markers", "slow: takes minutes (trains a model)")


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Argon2id at its minimum cost for the in-process console of these tests.

    why: the default cost (64 MiB, 3 passes: right for production) made password hashing most of the
    console tests' time on a busy 2-core machine (`make check`); the algorithm and the stored format
    (``$argon2id$...``) stay the same. Consoles started as subprocesses keep the real cost.
    """
    from argon2 import PasswordHasher

    import console.auth as auth

    patch = pytest.MonkeyPatch()
    patch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    patch.undo()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def settings(project: Path) -> ConsoleSettings:
    return ConsoleSettings.from_env(console_env(project))


@pytest.fixture
def store(settings: ConsoleSettings) -> Store:
    return Store(settings.database_url)


@pytest.fixture
def auth(store: Store, settings: ConsoleSettings) -> Authenticator:
    return Authenticator(store, settings, load_secret(settings))


@pytest.fixture
def fake_rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def server(settings: ConsoleSettings, store: Store, fake_rasa: FakeRasa) -> Iterator[ServerThread]:
    app = create_app(settings, store=store, rasa=fake_rasa, app_store_factory=EmptyAppStore)
    thread = ServerThread(app).start()
    yield thread
    thread.stop()


@pytest.fixture
def users(auth: Authenticator) -> dict[str, str]:
    auth.create_user("admin1", PASSWORD, "admin")
    auth.create_user("trainer1", PASSWORD, "trainer")
    return {"admin": "admin1", "trainer": "trainer1"}
