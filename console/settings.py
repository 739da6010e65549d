"""Configuration of the trainer console, read once from the environment.

Contract:
- :meth:`ConsoleSettings.from_env` builds a frozen object from ``os.environ`` (or a given mapping)
  without touching the disk; :func:`get_settings` caches it for the process.
- Paths: ``CONSOLE_PROJECT_ROOT`` (default: this repository) holds ``config.yml``, ``domain.yml`` and
  ``data/``; ``NLU_DATA_DIR`` (default ``<root>/data/nlu``) is what the console edits; models go to
  ``<root>/models``; the console's own files (database, dev secret, run directories) to
  ``CONSOLE_VAR_DIR`` (default ``<root>/var``). Tests point all of them at a temporary copy.
- ``CONSOLE_DATABASE_URL`` (default ``sqlite:///<var>/console.db``) is the console database.
- ``CONSOLE_SECRET`` keys session and CSRF tokens. Outside development (``APP_ENV`` other than
  development/test) it is required, at least 32 characters and not a placeholder; in development a
  random one is generated into ``<var>/console-secret`` on first use (see :mod:`console.auth`).
- ``RASA_URL`` (default ``http://localhost:5005``) and ``RASA_API_TOKEN`` reach the running bot's
  HTTP API (on only when the token is set) for "try a sentence" and model activation.
- ``STAFF_REPLY_TOKEN`` authenticates the hand-off queue's replies to the bot (``/webhooks/staff/reply``).
- ``DATABASE_URL`` is the knowledge database (staff service facts live there, table ``kb_service_facts``);
  ``SERVICE_FACT_HOSTS`` lists extra hosts accepted as official sources (tests only).
- ``TRACKER_DB_URL`` (SQLAlchemy URL) or ``TRACKER_DB`` (SQLite file, default ``var/tracker.db``,
  relative to the repository root like the launcher) is the tracker store the inbox reads.
- ``CONSOLE_EVAL_SET=off`` leaves the evaluation set (``tests/eval/questions.yml``) out of retraining.
- ``CONSOLE_VALIDATE=off`` skips ``rasa data validate`` (unit tests only; refused in production).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from knowledge.thresholds import INBOX_LOW_CONFIDENCE

REPO_ROOT = Path(__file__).resolve().parents[1]

_DEV_ENVIRONMENTS = {"development", "dev", "test", "testing", "local"}
_PLACEHOLDERS = ("changeme", "change-me", "placeholder", "secret", "xxx")


class SettingsError(RuntimeError):
    """The environment holds an unusable console configuration."""


@dataclass(frozen=True)
class ConsoleSettings:
    """Everything the console needs to know about its surroundings (immutable)."""

    project_root: Path
    nlu_dir: Path
    models_dir: Path
    var_dir: Path
    database_url: str
    secret: str | None
    environment: str = "development"
    rasa_url: str = "http://localhost:5005"
    rasa_api_token: str | None = None
    # why: a secret separate from the Rasa API token: it can only send staff replies, nothing else.
    staff_reply_token: str | None = None
    # the knowledge database that holds staff service facts ("" = the knowledge package's default)
    kb_database_url: str = ""
    # hosts accepted as official sources besides *.gov.cn over https (tests: 127.0.0.1)
    service_fact_hosts: tuple[str, ...] = ()
    tracker_db_url: str = ""
    session_idle_seconds: int = 8 * 3600
    # why: an idle limit alone lets a session that is used every few hours live for ever.
    session_max_seconds: int = 24 * 3600
    low_confidence: float = INBOX_LOW_CONFIDENCE
    validate_with_rasa: bool = True
    # why: the evaluation set needs two extra bot start-ups per run; CONSOLE_EVAL_SET=off skips it.
    eval_set: bool = True
    heldout_fraction: float = 0.2
    # why: one example more or less in a ~300-example test fold moves weighted F1 by ~0.003;
    # a tolerance of 0.01 keeps noise from blocking a candidate while a real regression still shows.
    f1_tolerance: float = 0.01
    cookie_secure: bool = False
    bin_dir: Path = Path(sys.executable).parent

    @property
    def production(self) -> bool:
        return self.environment.lower() not in _DEV_ENVIRONMENTS

    @property
    def data_dir(self) -> Path:
        return self.project_root / "data"

    @property
    def domain_path(self) -> Path:
        return self.project_root / "domain.yml"

    @property
    def config_path(self) -> Path:
        return self.project_root / "config.yml"

    @property
    def runs_dir(self) -> Path:
        return self.var_dir / "console" / "runs"

    @property
    def snapshots_dir(self) -> Path:
        return self.var_dir / "console" / "snapshots"

    @property
    def rasa_cache_dir(self) -> Path:
        # why: the same cache `make train` fills, so a console retrain reuses unchanged components (TED).
        return self.project_root / ".rasa" / "cache"

    @property
    def rasa_bin(self) -> Path:
        return self.bin_dir / "rasa"

    @property
    def python_bin(self) -> Path:
        return self.bin_dir / "python"

    def check(self) -> ConsoleSettings:
        """Return ``self`` or raise :class:`SettingsError` for a configuration unsafe outside development."""
        if self.production:
            if not self.secret or len(self.secret) < 32 or any(p in self.secret.lower() for p in _PLACEHOLDERS):
                raise SettingsError("CONSOLE_SECRET must be set to a random value of 32+ characters in production")
            if not self.validate_with_rasa:
                raise SettingsError("CONSOLE_VALIDATE=off is for tests only")
            if self.service_fact_hosts:
                raise SettingsError("SERVICE_FACT_HOSTS is for tests only: sources must be official .gov.cn sites")
        if not 0 < self.low_confidence < 1:
            raise SettingsError("CONSOLE_LOW_CONFIDENCE must be between 0 and 1")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        """Build settings from ``environ`` (default ``os.environ``); no file is read or written."""
        env = os.environ if environ is None else environ
        root = Path(env.get("CONSOLE_PROJECT_ROOT") or REPO_ROOT).resolve()
        var_dir = Path(env.get("CONSOLE_VAR_DIR") or root / "var").resolve()
        nlu_dir = Path(env.get("NLU_DATA_DIR") or root / "data" / "nlu").resolve()
        tracker_url = env.get("TRACKER_DB_URL")
        if not tracker_url:
            tracker_file = Path(env.get("TRACKER_DB") or "var/tracker.db")
            # why: the launcher runs Rasa from the repository root; a relative TRACKER_DB is relative to it.
            if not tracker_file.is_absolute():
                tracker_file = REPO_ROOT / tracker_file
            tracker_url = f"sqlite:///{tracker_file}"
        environment = env.get("APP_ENV", "development")
        return cls(
            project_root=root,
            nlu_dir=nlu_dir,
            models_dir=Path(env.get("CONSOLE_MODELS_DIR") or root / "models").resolve(),
            var_dir=var_dir,
            database_url=env.get("CONSOLE_DATABASE_URL") or f"sqlite:///{var_dir / 'console.db'}",
            secret=env.get("CONSOLE_SECRET") or None,
            environment=environment,
            rasa_url=(env.get("RASA_URL") or "http://localhost:5005").rstrip("/"),
            rasa_api_token=env.get("RASA_API_TOKEN") or None,
            staff_reply_token=env.get("STAFF_REPLY_TOKEN") or None,
            kb_database_url=env.get("DATABASE_URL") or "",
            service_fact_hosts=tuple(h.strip() for h in (env.get("SERVICE_FACT_HOSTS") or "").split(",") if h.strip()),
            tracker_db_url=tracker_url,
            session_idle_seconds=int(float(env.get("CONSOLE_SESSION_IDLE_HOURS") or 8) * 3600),
            low_confidence=float(env.get("CONSOLE_LOW_CONFIDENCE") or INBOX_LOW_CONFIDENCE),
            validate_with_rasa=(env.get("CONSOLE_VALIDATE") or "rasa").lower() != "off",
            eval_set=(env.get("CONSOLE_EVAL_SET") or "on").lower() not in ("off", "0", "false", "no"),
            f1_tolerance=float(env.get("CONSOLE_F1_TOLERANCE") or 0.01),
            cookie_secure=(env.get("CONSOLE_COOKIE_SECURE") or "").lower() in ("1", "true", "yes")
            or environment.lower() not in _DEV_ENVIRONMENTS,
        ).check()


@lru_cache(maxsize=1)
def get_settings() -> ConsoleSettings:
    """Process-wide settings, read from the environment on first call."""
    return ConsoleSettings.from_env()
