"""Settings of the operator tools (launcher, cluster, tracker maintenance, audit, WeChat simulator).

Contract: :data:`VARIABLES` names every environment variable that code under ``ops/`` reads, with its
meaning; :func:`setting` is the one reader (``env``, a mapping that tests pass, or ``os.environ``) and
refuses a name that is not declared, so a new variable cannot be read without being declared here and
listed in ``.env.example`` (``tests/test_env_example.py``). The launcher also *sets* a few variables for
its children (``RASA_API_TOKEN``, ``STAFF_REPLY_TOKEN``, ``RASA_URL``): those are read by ``bot/`` and
``console/``, whose settings declare them. Nothing is read at import.
"""

from __future__ import annotations

import os
from typing import Mapping

VARIABLES: dict[str, str] = {
    "BOT_HOST": "interface of Rasa and the action server (127.0.0.1; open them behind a proxy only)",
    "TRACKER_DB": "SQLite file of the tracker store the launcher passes to Rasa",
    "SANIC_REQUEST_MAX_SIZE": "largest request body Rasa's Sanic accepts (the launcher sets 64 KB)",
    "RASA_CREDENTIALS": "credentials file of the Rasa server (credentials.yml)",
    "RASA_ENDPOINTS": "endpoints file of the Rasa server (endpoints.yml)",
    "RASA_API_TOKEN": "Rasa's HTTP API token (unset: API off; make run makes a one-run token for the console)",
    "RASA_PROCESSES": "Rasa processes of make run: auto (one per core, at most 4, when the shared stores answer) or N",
    "STAFF_REPLY_TOKEN": "token of the console's staff replies (make run makes a one-run token)",
    "CLUSTER_DATABASE_URL": "PostgreSQL of the cluster (trackers + knowledge base)",
    "REDIS_URL": "Redis of the cluster (locks, WeChat state, rate limits)",
    "LOCK_KEY_PREFIX": "key prefix of the cluster's Redis locks",
    "CLUSTER_LISTEN": "interface the cluster's public nginx listens on",
    "NGINX": "nginx binary of the cluster (default: PATH, then /usr/sbin/nginx)",
    "RETENTION_DAYS": "default of make retention",
    "AIOHTTP_NO_EXTENSIONS": "aiohttp's pure-Python parser (the audit reports it)",
    "AUDIT_OFFLINE_OK": "1: an audit without network checks the dated offline snapshot only",
    "WECHAT_SIM_URL": "WeChat webhook the simulator talks to",
    "WECHAT_TOKEN": "WeChat server token the simulator signs with",
    "WECHAT_AES_KEY": "WeChat EncodingAESKey of the simulator (safe mode)",
    "WECHAT_APPID": "WeChat app id of the simulator",
}


def setting(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    """The value of ``name`` (declared in :data:`VARIABLES`), or ``default`` when unset or empty."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not declared in ops.settings.VARIABLES (and .env.example)")
    return (os.environ if env is None else env).get(name) or default
