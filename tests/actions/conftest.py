"""The real knowledge base, built once into a temporary SQLite file, and the domain's templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.composer import Templates
from knowledge.build import build
from knowledge.service import KnowledgeService
from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeService:
    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.db'}"
    settings = Settings(
        database_url=url, content_dir=ROOT / "knowledge", userdict_path=ROOT / "data" / "dict" / "userdict.txt"
    )
    build(settings, force=True)
    return KnowledgeService(database_url=url, userdict_path=settings.userdict_path)


@pytest.fixture(scope="session")
def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def templates(domain: dict) -> Templates:
    return Templates.from_domain(domain)
