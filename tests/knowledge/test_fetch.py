"""knowledge.fetch against a local http.server on 127.0.0.1 (random port)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from knowledge import __main__ as cli
from knowledge.content import ManifestEntry
from knowledge.fetch import FetchPolicy, SourceFetcher, state_path
from knowledge.settings import Settings


@dataclass
class Reply:
    status: int = 200
    body: bytes = "<p>新版本</p>".encode()
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    delay: float = 0.0
    send_length: bool = True


class Script:
    """Replies served in order (the last one repeats); requests are recorded."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply()]
        self.requests: list[dict[str, str]] = []

    def next(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            script.requests.append(dict(self.headers))
            reply = script.next()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status == 304 and self.headers.get("If-None-Match") != reply.headers.get("ETag"):
                reply = Reply()  # only a matching conditional request gets a 304
            try:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.send_length:
                    self.send_header("Content-Length", str(len(reply.body) if reply.status != 304 else 0))
                self.end_headers()
                if reply.status != 304:
                    self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args):  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/doc", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    (tmp_path / "009_doc.txt").write_text("旧版本", encoding="utf-8")
    return tmp_path


def entry(url: str, fmt: str = "html") -> ManifestEntry:
    return ManifestEntry(
        "009", "009_doc.txt", "测试", "p", "news", "深圳", None, "2024年", "", fmt, fetch_url=url
    )


def fetcher(sources: Path, sleeps: list[float] | None = None, **policy) -> SourceFetcher:
    defaults = dict(timeout=2.0, retries=2, backoff=0.01, max_bytes=10_000)
    defaults.update(policy)
    return SourceFetcher(
        sources, FetchPolicy(**defaults), sleep=(sleeps.append if sleeps is not None else (lambda s: None))
    )


def read(sources: Path) -> str:
    return (sources / "009_doc.txt").read_text(encoding="utf-8")


def test_200_updates_and_stores_validators(server, sources):
    url, script = server
    script.replies = [
        Reply(
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "ETag": '"v1"',
                "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
            }
        )
    ]
    result = fetcher(sources).fetch(entry(url))
    assert (result.action, result.status_code, result.attempts) == ("updated", 200, 1)
    assert read(sources) == "<p>新版本</p>"
    state = json.loads(state_path(sources, entry(url)).read_text(encoding="utf-8"))
    assert state["etag"] == '"v1"' and state["last_modified"].startswith("Mon, 01 Jan 2024")
    assert state["sha256"] and state["last_error"] == ""


def test_304_keeps_the_copy_and_sends_conditional_headers(server, sources):
    url, script = server
    state_path(sources, entry(url)).write_text(
        json.dumps({"etag": '"v1"', "last_modified": "x"}), encoding="utf-8"
    )
    script.replies = [Reply(status=304, headers={"ETag": '"v1"'})]
    result = fetcher(sources).fetch(entry(url))
    assert (result.action, result.status_code) == ("not-modified", 304)
    assert read(sources) == "旧版本"
    assert script.requests[0]["If-None-Match"] == '"v1"'
    assert script.requests[0]["If-Modified-Since"] == "x"


def test_500_then_success_retries_with_exponential_backoff(server, sources):
    url, script = server
    script.replies = [Reply(status=500, body=b"oops"), Reply(status=503, body=b"busy"), Reply()]
    sleeps: list[float] = []
    result = fetcher(sources, sleeps, backoff=0.5).fetch(entry(url))
    assert (result.action, result.attempts) == ("updated", 3)
    assert sleeps == [0.5, 1.0]
    assert read(sources) == "<p>新版本</p>"


def test_500_forever_fails_and_keeps_the_copy(server, sources):
    url, script = server
    script.replies = [Reply(status=500, body=b"oops")]
    result = fetcher(sources, retries=2).fetch(entry(url))
    assert (result.action, result.attempts, result.status_code) == ("failed", 3, 500)
    assert read(sources) == "旧版本"
    assert "HTTP 500" in json.loads(state_path(sources, entry(url)).read_text(encoding="utf-8"))["last_error"]


@pytest.mark.parametrize("send_length", [True, False])
def test_too_large_fails_without_retry(server, sources, send_length):
    url, script = server
    script.replies = [Reply(body=b"x" * 20_000, send_length=send_length)]
    result = fetcher(sources, max_bytes=1_000).fetch(entry(url))
    assert (result.action, result.attempts) == ("failed", 1)
    assert "too large" in result.detail
    assert read(sources) == "旧版本"


def test_wrong_content_type_fails_without_retry(server, sources):
    url, script = server
    script.replies = [Reply(body=b"\x89PNG", headers={"Content-Type": "image/png"})]
    result = fetcher(sources).fetch(entry(url))
    assert (result.action, result.attempts) == ("failed", 1)
    assert "content type 'image/png'" in result.detail
    assert read(sources) == "旧版本"


def test_timeout_retries_then_fails(server, sources):
    url, script = server
    script.replies = [Reply(delay=1.0)]
    result = fetcher(sources, timeout=0.2, retries=1).fetch(entry(url))
    assert (result.action, result.attempts) == ("failed", 2)
    assert "timeout" in result.detail
    assert read(sources) == "旧版本"


@pytest.mark.parametrize("fmt, ctype", [("text", "text/html"), ("html", "text/plain")])
def test_content_type_must_match_the_manifest_format(server, sources, fmt, ctype):
    url, script = server
    script.replies = [Reply(headers={"Content-Type": f"{ctype}; charset=utf-8"})]
    result = fetcher(sources).fetch(entry(url, fmt=fmt))
    assert result.action == "failed" and f"for a '{fmt}' source" in result.detail
    assert read(sources) == "旧版本"


def test_404_fails_without_retry(server, sources):
    url, script = server
    script.replies = [Reply(status=404, body=b"missing")]
    result = fetcher(sources).fetch(entry(url))
    assert (result.action, result.attempts, result.status_code) == ("failed", 1, 404)


def test_gbk_page_is_stored_as_utf8(server, sources):
    url, script = server
    script.replies = [
        Reply(body="深圳人社".encode("gbk"), headers={"Content-Type": "text/plain; charset=gbk"})
    ]
    assert fetcher(sources).fetch(entry(url, fmt="text")).action == "updated"
    assert read(sources) == "深圳人社"


def test_identical_content_is_not_modified(server, sources):
    url, script = server
    script.replies = [Reply(body="旧版本".encode())]
    result = fetcher(sources).fetch(entry(url))
    assert result.action == "not-modified"


def test_offline_is_the_default(server, sources):
    url, script = server
    no_url = ManifestEntry("010", "010.txt", "t", "p", "news", "深圳", None, "", "", "text")
    results = fetcher(sources).run([entry(url), no_url])
    assert [r.action for r in results] == ["would-fetch", "skipped"]
    assert script.requests == []
    assert read(sources) == "旧版本"


def test_cli_fetch_offline(tmp_path, monkeypatch, capsys, sources, server):
    url, script = server
    (sources / "manifest.yml").write_text(
        "- {doc_id: '009', file: 009_doc.txt, title: t, kind: news, region: 深圳, date_label: x, "
        f"format: html, fetch_url: '{url}'}}\n",
        encoding="utf-8",
    )
    settings = Settings(
        database_url="sqlite://", content_dir=sources.parent, userdict_path=tmp_path / "u.txt"
    )
    monkeypatch.setattr(Settings, "sources_dir", property(lambda self: sources))
    monkeypatch.setattr(Settings, "manifest_path", property(lambda self: sources / "manifest.yml"))
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["fetch"]) == 0
    out = capsys.readouterr().out
    assert "009: would-fetch" in out and "offline" in out
    assert script.requests == []
