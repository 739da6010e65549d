"""Model manifests: the servers start only models that we trained.

Contract:

* :func:`sign_model` writes ``<model>.sig`` beside ``models/<name>.tar.gz``: a small JSON manifest
  with the file's SHA-256 and, when ``MODEL_SIGNING_KEY`` is set, an HMAC-SHA256 over the file name
  and the digest. ``make train`` calls it (``python -m ops.trackers sign-model``).
* :func:`verify_model` recomputes the digest and compares it with the manifest (constant time). It
  raises :class:`ModelRejected` when the manifest is missing, names another file, the digest differs,
  or a key is configured and the HMAC is missing or wrong. The launcher and the cluster call it
  before Rasa is started, so a swapped or corrupted ``.tar.gz`` never runs.

Why an HMAC and not just a digest: anyone who can replace the model can also rewrite a bare
checksum next to it; without the key (held by the training job and the servers, never by the
model store) they cannot produce a valid HMAC. The digest alone still catches corruption and
accidental swaps in development, where no key is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Mapping

from bot.settings import environ

logger = logging.getLogger(__name__)

SUFFIX = ".sig"
KEY_ENV = "MODEL_SIGNING_KEY"
_CHUNK = 1024 * 1024


class ModelRejected(RuntimeError):
    """The model has no valid manifest; the server must not start with it."""


def manifest_path(model: str | Path) -> Path:
    """``models/x.tar.gz`` → ``models/x.tar.gz.sig``."""
    model = Path(model)
    return model.with_name(model.name + SUFFIX)


def file_digest(path: str | Path) -> str:
    """SHA-256 of the file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mac(key: str, name: str, digest: str) -> str:
    return hmac.new(key.encode("utf-8"), f"{name}\n{digest}".encode("ascii"), hashlib.sha256).hexdigest()


def _key(env: Mapping[str, str] | None) -> str:
    return (environ(env).get(KEY_ENV) or "").strip()


def sign_model(model: str | Path, env: Mapping[str, str] | None = None) -> Path:
    """Write the manifest of ``model``; returns its path."""
    model = Path(model)
    digest = file_digest(model)
    key = _key(env)
    manifest = {
        "model": model.name,
        "sha256": digest,
        "hmac_sha256": _mac(key, model.name, digest) if key else None,
        "signed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = manifest_path(model)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info("signed %s (%s, %s)", model.name, digest[:12], "hmac" if key else "digest only")
    return path


def verify_model(model: str | Path, env: Mapping[str, str] | None = None) -> str:
    """Check ``model`` against its manifest; returns the digest or raises :class:`ModelRejected`."""
    model = Path(model)
    if not model.is_file():
        raise ModelRejected(f"{model}: no such model file")
    path = manifest_path(model)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelRejected(
            f"{model.name}: no manifest {path.name} (sign it: python -m ops.trackers sign-model)") from error
    except ValueError as error:
        raise ModelRejected(f"{model.name}: unreadable manifest {path.name}") from error
    if not isinstance(manifest, dict) or manifest.get("model") != model.name:
        raise ModelRejected(f"{model.name}: the manifest belongs to another model")
    digest = file_digest(model)
    if not hmac.compare_digest(str(manifest.get("sha256") or ""), digest):
        raise ModelRejected(f"{model.name}: SHA-256 does not match its manifest (file replaced or corrupted)")
    key = _key(env)
    if key:
        expected = _mac(key, model.name, digest)
        if not hmac.compare_digest(str(manifest.get("hmac_sha256") or ""), expected):
            raise ModelRejected(f"{model.name}: HMAC does not match {KEY_ENV} (not signed by our training job)")
    logger.info("model %s verified (%s, %s)", model.name, digest[:12], "hmac" if key else "digest only")
    return digest
