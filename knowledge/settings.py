"""Settings of the knowledge package, read once from the environment.

Contract:
- ``get_settings()`` returns the same frozen :class:`Settings` for the whole process
  (call ``get_settings.cache_clear()`` in tests that change the environment).
- ``DATABASE_URL`` selects the database (``postgresql://…`` or ``sqlite:///…``); when unset,
  the SQLite file ``var/knowledge.db`` under the repository root is used (``var/`` is gitignored).
- ``KNOWLEDGE_CONTENT_DIR`` points at a directory laid out like ``knowledge/``
  (``sources/manifest.yml``, ``facts/*.yml``, ``topics/*.yml``, ``channels.yml``);
  default: the ``knowledge/`` package directory itself.
- ``KNOWLEDGE_USERDICT`` overrides the jieba user dictionary (default ``data/dict/userdict.txt``).
- Outside development (``APP_ENV`` other than ``development``/``test``) a database URL that still
  carries a placeholder password is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

DEFAULT_SQLITE_PATH = REPO_ROOT / "var" / "knowledge.db"
DEFAULT_USERDICT_PATH = REPO_ROOT / "data" / "dict" / "userdict.txt"

_PLACEHOLDER_SECRETS = ("changeme", "change-me", "placeholder", "xxx", "<password>")
_DEV_ENVIRONMENTS = {"development", "dev", "test", "testing", "local"}


class SettingsError(RuntimeError):
    """Raised when the environment holds an unusable configuration."""


def normalise_database_url(url: str) -> str:
    """Return ``url`` in the form SQLAlchemy 1.4 accepts.

    # why: hosted Postgres services still hand out ``postgres://`` URLs, which SQLAlchemy 1.4 rejects.
    """
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


@dataclass(frozen=True)
class Settings:
    """Immutable configuration of the knowledge package."""

    database_url: str
    content_dir: Path
    userdict_path: Path
    environment: str = "development"

    @property
    def sources_dir(self) -> Path:
        return self.content_dir / "sources"

    @property
    def manifest_path(self) -> Path:
        return self.sources_dir / "manifest.yml"

    @property
    def facts_dir(self) -> Path:
        return self.content_dir / "facts"

    @property
    def topics_dir(self) -> Path:
        return self.content_dir / "topics"

    @property
    def channels_path(self) -> Path:
        return self.content_dir / "channels.yml"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check(self) -> Settings:
        """Validate and return ``self``; raise :class:`SettingsError` on a bad configuration."""
        if self.environment.lower() not in _DEV_ENVIRONMENTS:
            lowered = self.database_url.lower()
            if any(token in lowered for token in _PLACEHOLDER_SECRETS):
                raise SettingsError(
                    f"DATABASE_URL contains a placeholder secret while APP_ENV={self.environment!r}"
                )
        if not (self.database_url.startswith("sqlite") or self.database_url.startswith("postgresql")):
            raise SettingsError(f"unsupported DATABASE_URL scheme: {self.database_url.split(':', 1)[0]!r}")
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``) without touching the disk."""
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        content_dir = Path(env.get("KNOWLEDGE_CONTENT_DIR") or PACKAGE_DIR)
        userdict = Path(env.get("KNOWLEDGE_USERDICT") or DEFAULT_USERDICT_PATH)
        return cls(
            database_url=normalise_database_url(url),
            content_dir=content_dir.resolve(),
            userdict_path=userdict.resolve(),
            environment=env.get("APP_ENV", "development"),
        ).check()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read from the environment on first call."""
    return Settings.from_env()
