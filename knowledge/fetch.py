"""Refresh source documents from their official ``fetch_url`` (manifest), safely.

Contracts:
- Offline is the default: without ``online=True`` nothing is requested; each result says what would
  be done (``would-fetch``).
- Online, one HTTP client (:class:`SourceFetcher`) does conditional GETs (``If-None-Match`` /
  ``If-Modified-Since`` from ``<file>.fetch.json`` stored beside the source), with timeouts, retries
  with exponential back-off on connection errors, timeouts, 429 and 5xx, a size limit and a
  content-type check (which must also match the manifest ``format``: text/plain for ``text``,
  HTML for ``html``). Errors become :class:`FetchResult` values, never exceptions.
- The previous copy is kept whenever a download fails, is too large, has the wrong type, or is
  unchanged (304 or same bytes). A new copy replaces the old one atomically, re-encoded as UTF-8.
- A refreshed source changes the build hash; ``python -m knowledge build`` then re-verifies every
  quote against it, so a page that changed under the quotes fails the build instead of drifting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from knowledge.content import ManifestEntry

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# why: a page of another kind would be parsed the wrong way (an HTML page stored as a "text" source
# would keep its tags), so a download must match the manifest ``format`` of the copy it replaces.
FORMAT_TYPES = {"text": ("text/plain",), "html": ("text/html", "application/xhtml+xml")}


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 15.0  # seconds, connect and read
    retries: int = 3  # extra attempts after the first
    backoff: float = 1.0  # seconds; doubled after every failed attempt
    max_bytes: int = 5_000_000
    allowed_types: tuple[str, ...] = ("text/html", "text/plain", "application/xhtml+xml")
    user_agent: str = "rensha-kb-fetch/1.0 (+citizen-services chatbot; source refresh)"


@dataclass(frozen=True)
class FetchResult:
    doc_id: str
    url: str
    action: str  # skipped | would-fetch | updated | not-modified | failed
    detail: str
    status_code: int | None = None
    attempts: int = 0


class _Retryable(Exception):
    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.status = status


class _Fatal(Exception):
    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.status = status


def state_path(sources_dir: Path, entry: ManifestEntry) -> Path:
    """``sources/<file>.fetch.json``: ETag, Last-Modified and the last outcome of ``entry``."""
    return sources_dir / f"{entry.file}.fetch.json"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


class SourceFetcher:
    """The one client that talks to the official websites."""

    def __init__(
        self,
        sources_dir: Path,
        policy: FetchPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.sources_dir = sources_dir
        self.policy = policy or FetchPolicy()
        self._session = session
        self._sleep = sleep

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
            self._session.headers["User-Agent"] = self.policy.user_agent
        return self._session

    # ------------------------------------------------------------ state

    def _load_state(self, entry: ManifestEntry) -> dict:
        path = state_path(self.sources_dir, entry)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _save_state(self, entry: ManifestEntry, state: dict) -> None:
        path = state_path(self.sources_dir, entry)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(state, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        tmp.replace(path)

    # ------------------------------------------------------------ fetching

    def run(self, entries: Iterable[ManifestEntry], online: bool = False) -> list[FetchResult]:
        """One result per manifest entry; requests are made only when ``online``."""
        results = []
        for entry in entries:
            if not entry.fetch_url:
                results.append(FetchResult(entry.doc_id, "", "skipped", "no fetch_url in the manifest"))
            elif not online:
                state = self._load_state(entry)
                how = "conditional GET" if state.get("etag") or state.get("last_modified") else "GET"
                results.append(
                    FetchResult(
                        entry.doc_id, entry.fetch_url, "would-fetch", f"{how} -> sources/{entry.file}"
                    )
                )
            else:
                results.append(self.fetch(entry))
        return results

    def fetch(self, entry: ManifestEntry) -> FetchResult:
        """Download ``entry.fetch_url`` with retries; keep the old copy unless a new one is valid."""
        state = self._load_state(entry)
        headers = {}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        attempts = 0
        last: Exception | None = None
        for attempt in range(self.policy.retries + 1):
            attempts = attempt + 1
            try:
                result = self._attempt(entry, headers, state, attempts)
            except _Retryable as exc:
                last = exc
                log.warning("fetch %s attempt %d failed: %s", entry.doc_id, attempts, exc)
                if attempt < self.policy.retries:
                    self._sleep(self.policy.backoff * (2**attempt))
                continue
            except _Fatal as exc:
                last = exc
                break
            return result
        detail = str(last) if last else "unknown error"
        status = getattr(last, "status", None)
        state.update(last_error=detail, last_attempt_at=_now())
        self._save_state(entry, state)
        log.error(
            "fetch %s failed after %d attempt(s): %s; keeping the previous copy",
            entry.doc_id,
            attempts,
            detail,
        )
        return FetchResult(entry.doc_id, entry.fetch_url, "failed", detail, status, attempts)

    def _attempt(self, entry: ManifestEntry, headers: dict, state: dict, attempts: int) -> FetchResult:
        policy = self.policy
        try:
            resp = self.session.get(entry.fetch_url, headers=headers, timeout=policy.timeout, stream=True)
        except requests.Timeout as exc:
            raise _Retryable(f"timeout after {policy.timeout}s") from exc
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection error: {exc.__class__.__name__}") from exc
        except requests.RequestException as exc:
            raise _Fatal(f"request error: {exc}") from exc
        with resp:
            status = resp.status_code
            if status == 304:
                state.update(checked_at=_now(), last_error="")
                self._save_state(entry, state)
                return FetchResult(
                    entry.doc_id, entry.fetch_url, "not-modified", "304 Not Modified", 304, attempts
                )
            if status in RETRY_STATUSES:
                raise _Retryable(f"HTTP {status}", status)
            if status != 200:
                raise _Fatal(f"HTTP {status}", status)
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            for_format = FORMAT_TYPES.get(entry.format, policy.allowed_types)
            allowed = [t for t in policy.allowed_types if t in for_format]
            if ctype not in allowed:
                raise _Fatal(
                    f"unexpected content type {ctype or '(none)'!r} for a {entry.format!r} source "
                    f"(allowed: {', '.join(allowed)})",
                    status,
                )
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise _Fatal(f"too large: Content-Length {declared} > {policy.max_bytes}", status)
            body = bytearray()
            try:
                for chunk in resp.iter_content(chunk_size=65536):
                    body += chunk
                    if len(body) > policy.max_bytes:
                        raise _Fatal(f"too large: more than {policy.max_bytes} bytes", status)
            except requests.Timeout as exc:
                raise _Retryable(f"timeout while reading after {policy.timeout}s", status) from exc
            except requests.RequestException as exc:
                raise _Retryable(f"read error: {exc.__class__.__name__}", status) from exc
            text = self._decode(bytes(body), resp)
            data = text.encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            target = self.sources_dir / entry.file
            state.update(
                url=entry.fetch_url,
                etag=resp.headers.get("ETag", ""),
                last_modified=resp.headers.get("Last-Modified", ""),
                content_type=ctype,
                checked_at=_now(),
                last_error="",
            )
            if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
                state["sha256"] = digest
                self._save_state(entry, state)
                return FetchResult(
                    entry.doc_id, entry.fetch_url, "not-modified", "200 with identical content", 200, attempts
                )
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            state.update(sha256=digest, fetched_at=_now())
            self._save_state(entry, state)
            log.info("fetched %s (%d bytes) into %s", entry.fetch_url, len(data), target.name)
            return FetchResult(entry.doc_id, entry.fetch_url, "updated", f"{len(data)} bytes", 200, attempts)

    @staticmethod
    def _decode(body: bytes, resp: requests.Response) -> str:
        # why: many official sites still serve GBK; sources are stored as UTF-8.
        declared = requests.utils.get_encoding_from_headers(resp.headers)
        if declared and declared.lower() != "iso-8859-1":  # requests' default for text/* without charset
            try:
                return body.decode(declared)
            except (LookupError, UnicodeDecodeError):
                pass
        for encoding in ("utf-8", "gb18030"):
            try:
                return body.decode(encoding)
            except UnicodeDecodeError:
                continue
        return body.decode("utf-8", errors="replace")
