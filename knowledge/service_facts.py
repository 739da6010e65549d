"""Service facts added by staff (hotlines, addresses, amounts, procedures), each with a verified official source.

Contract:
- Their own table, ``kb_service_facts``, in the knowledge database, with its own metadata: ``python -m
  knowledge build`` drops and recreates only the seed tables, so staff facts survive a rebuild.
  Seed facts (``knowledge/facts/*.yml``) are never written here and stay read-only.
- One row per version of a fact (``fact_id`` ``SF-0001`` is stable across versions). ``status``:
  ``draft`` → ``approved`` | ``rejected``; approving a version marks the previously approved one
  ``superseded``. A fact is *live* when its newest approved version is not past ``expires_on``;
  expired, draft, rejected or superseded versions are never said (:meth:`ServiceFactStore.live`).
- Every proposal is verified like the seed build verifies quotes (:mod:`knowledge.verify` rules): the
  source URL is https (or a host listed as official) on an official host, the quote is in the page
  (whitespace ignored, page cleaned as the build cleans HTML), and every number of the statement is
  in the quote. A proposal that fails is refused with the problems; nothing is stored.
- The reviewer must be another person than the author. Rollback proposes an older version again
  (as a new draft, reviewed like any change).
- Imports no rasa, rasa_sdk, actions or bot; synchronous SQLAlchemy, one short session per call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from sqlalchemy import Column, Date, DateTime, Integer, String, Text, UniqueConstraint, func, inspect, select
from sqlalchemy.orm import declarative_base, sessionmaker

from knowledge.fetch import FetchPolicy, SourceFetcher
from knowledge.ingest import clean_html, clean_text
from knowledge.textutil import normalise_number, number_forms, number_tokens, squash
from knowledge.vocabulary import COVERED_REGIONS as REGIONS

log = logging.getLogger(__name__)

Base = declarative_base()

KINDS = {
    "hotline": "咨询电话",
    "address": "办事地址",
    "amount": "补贴/待遇标准",
    "procedure": "办理流程",
    "eligibility": "申请条件",
    "time": "办理时限",
    "channel": "办理渠道",
    "other": "其他",
}
STATUSES = ("draft", "approved", "rejected", "superseded")
# why: staff facts must come from government sites; tests and trusted mirrors add hosts explicitly.
OFFICIAL_SUFFIXES = (".gov.cn",)
MAX_STATEMENT = 300
MAX_QUOTE = 1000


class ServiceFactRow(Base):
    __tablename__ = "kb_service_facts"
    # why: two editors saving at once must not both get the same id and version; one of them fails instead.
    __table_args__ = (UniqueConstraint("fact_id", "version", name="uq_service_fact_version"),)
    id = Column(Integer, primary_key=True)
    fact_id = Column(String(16), nullable=False, index=True)
    version = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False, default="draft", index=True)
    kind = Column(String(16), nullable=False)
    region = Column(String(16), nullable=False)
    topic = Column(String(64), nullable=False)
    statement = Column(Text, nullable=False)
    source_url = Column(String(1000), nullable=False)
    source_title = Column(String(200), nullable=False)
    publisher = Column(String(200), nullable=False)
    source_date = Column(String(32), nullable=False)
    quote = Column(Text, nullable=False)
    verified_on = Column(Date, nullable=False)
    expires_on = Column(Date)
    page_sha256 = Column(String(64), nullable=False)
    page_origin = Column(String(16), nullable=False)  # fetched | uploaded
    author = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    reviewer = Column(String(64))
    reviewed_at = Column(DateTime)
    review_note = Column(Text)


@dataclass(frozen=True)
class ServiceFact:
    row_id: int
    fact_id: str
    version: int
    status: str
    kind: str
    region: str
    topic: str
    statement: str
    source_url: str
    source_title: str
    publisher: str
    source_date: str
    quote: str
    verified_on: dt.date
    expires_on: dt.date | None
    page_sha256: str
    page_origin: str
    author: str
    created_at: dt.datetime
    reviewer: str | None
    reviewed_at: dt.datetime | None
    review_note: str | None

    def expired(self, today: dt.date | None = None) -> bool:
        return self.expires_on is not None and self.expires_on < (today or dt.date.today())

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class Proposal:
    """What an editor submits; ``page`` is the uploaded page (bytes) or None to fetch ``source_url``."""

    kind: str
    region: str
    topic: str
    statement: str
    source_url: str
    source_title: str
    publisher: str
    source_date: str
    quote: str
    expires_on: dt.date | None = None


class ServiceFactError(ValueError):
    """A refused proposal or review; ``problems`` are short Chinese sentences for the page."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _record(row: ServiceFactRow) -> ServiceFact:
    return ServiceFact(
        row.id, row.fact_id, row.version, row.status, row.kind, row.region, row.topic, row.statement,
        row.source_url, row.source_title, row.publisher, row.source_date, row.quote, row.verified_on,
        row.expires_on, row.page_sha256, row.page_origin, row.author, row.created_at, row.reviewer,
        row.reviewed_at, row.review_note,
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.utcnow().replace(microsecond=0)


# --- verification -----------------------------------------------------------------------------------


def page_text(raw: bytes, content_type: str = "") -> str:
    """The page as the build cleans it (HTML blocks or plain text), joined."""
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw.decode("utf-8", errors="replace")
    is_html = "html" in content_type or "<html" in text[:2000].lower() or "<p" in text[:5000].lower()
    blocks = clean_html(text) if is_html else clean_text(text)
    return "\n\n".join(b.text for b in blocks)


def official_host(url: str, extra_hosts: tuple[str, ...] = ()) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in extra_hosts:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and any(host.endswith(s) or host == s.lstrip(".") for s in OFFICIAL_SUFFIXES)


def check_proposal(proposal: Proposal, text: str, extra_hosts: tuple[str, ...] = ()) -> list[str]:
    """Problems of a proposal against the page ``text``; empty means verified."""
    problems: list[str] = []
    if proposal.kind not in KINDS:
        problems.append("请选择事实类型")
    if proposal.region not in REGIONS:
        problems.append("地区必须是深圳、上海或全国")
    for label, value in (("话题", proposal.topic), ("陈述", proposal.statement), ("来源网址", proposal.source_url),
                         ("来源标题", proposal.source_title), ("发布机构", proposal.publisher),
                         ("发布日期", proposal.source_date), ("原文摘录", proposal.quote)):
        if not value.strip():
            problems.append(f"{label}不能为空")
    if len(proposal.statement) > MAX_STATEMENT or len(proposal.quote) > MAX_QUOTE:
        problems.append(f"陈述最多 {MAX_STATEMENT} 字，原文摘录最多 {MAX_QUOTE} 字")
    if proposal.source_url and not official_host(proposal.source_url, extra_hosts):
        problems.append("来源必须是政府官方网站（https，域名以 .gov.cn 结尾）")
    needle = squash(proposal.quote)
    if needle and needle not in squash(text):
        problems.append("原文摘录在来源网页中找不到（空白忽略后逐字比对）")
    forms = number_forms(proposal.quote)
    missing = [t for t in number_tokens(proposal.statement) if t not in forms and normalise_number(t) not in forms]
    if missing:
        problems.append(f"陈述中的数字不在原文摘录里：{'、'.join(missing)}")
    return problems


def fetch_page(url: str, policy: FetchPolicy | None = None, session: requests.Session | None = None) -> bytes:
    """Download an official page with the build's fetch policy (timeout, size, type); raises ServiceFactError."""
    policy = policy or FetchPolicy(retries=1)
    http = session or requests.Session()
    try:
        response = http.get(url, timeout=policy.timeout, headers={"User-Agent": policy.user_agent}, stream=True)
    except requests.RequestException as error:
        raise ServiceFactError([f"无法打开来源网页（{error.__class__.__name__}），可以上传网页文件"]) from None
    with response:
        if response.status_code != 200:
            raise ServiceFactError([f"来源网页返回 HTTP {response.status_code}，可以上传网页文件"])
        ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in policy.allowed_types:
            raise ServiceFactError([f"来源网页类型 {ctype or '未知'} 不支持"])
        body = bytearray()
        for chunk in response.iter_content(65536):
            body += chunk
            if len(body) > policy.max_bytes:
                raise ServiceFactError(["来源网页太大"])
        # why: the same decoding as the source refresh (GBK sites), then cleaned like the build.
        return SourceFetcher._decode(bytes(body), response).encode("utf-8")


# --- the store ----------------------------------------------------------------------------------------


class ServiceFactStore:
    """Versions of staff facts in the knowledge database (see the module docstring)."""

    def __init__(self, engine_factory, extra_hosts: tuple[str, ...] = ()) -> None:
        self._engine_factory = engine_factory
        self.extra_hosts = tuple(h.lower() for h in extra_hosts)
        self._sessionmaker: sessionmaker | None = None
        self._lock = threading.Lock()

    def _session(self):
        with self._lock:
            if self._sessionmaker is None:
                engine = self._engine_factory()
                Base.metadata.create_all(engine)
                self._sessionmaker = sessionmaker(engine, future=True, expire_on_commit=False)
        return self._sessionmaker.begin()

    def propose(self, proposal: Proposal, page: bytes, origin: str, author: str,
                fact_id: str | None = None, today: dt.date | None = None) -> ServiceFact:
        """Verify and store a draft (a new fact, or a new version of ``fact_id``)."""
        problems = check_proposal(proposal, page_text(page), self.extra_hosts)
        if proposal.expires_on is not None and proposal.expires_on < (today or dt.date.today()):
            problems.append("有效期不能早于今天")
        if problems:
            raise ServiceFactError(problems)
        with self._session() as s:
            if fact_id:
                version = (s.scalar(select(func.max(ServiceFactRow.version)).where(ServiceFactRow.fact_id == fact_id))
                           or 0) + 1
                if version == 1:
                    raise ServiceFactError([f"没有事实 {fact_id}"])
            else:
                count = s.scalar(select(func.count(func.distinct(ServiceFactRow.fact_id)))) or 0
                fact_id, version = f"SF-{count + 1:04d}", 1
            row = ServiceFactRow(
                fact_id=fact_id, version=version, status="draft", kind=proposal.kind, region=proposal.region,
                topic=proposal.topic.strip(), statement=proposal.statement.strip(),
                source_url=proposal.source_url.strip(), source_title=proposal.source_title.strip(),
                publisher=proposal.publisher.strip(), source_date=proposal.source_date.strip(),
                quote=proposal.quote.strip(), verified_on=today or dt.date.today(), expires_on=proposal.expires_on,
                page_sha256=hashlib.sha256(page).hexdigest(), page_origin=origin, author=author,
                created_at=_utcnow(),
            )
            s.add(row)
            s.flush()
            return _record(row)

    def review(self, row_id: int, reviewer: str, approve: bool, note: str = "") -> ServiceFact:
        with self._session() as s:
            row = s.get(ServiceFactRow, row_id)
            if row is None:
                raise ServiceFactError(["没有这个版本"])
            if row.status != "draft":
                raise ServiceFactError(["只有待审核的版本可以审核"])
            if row.author == reviewer:
                raise ServiceFactError(["不能审核自己提交的修改，请由另一位审核人审核"])
            if approve:
                for other in s.scalars(select(ServiceFactRow).where(
                        ServiceFactRow.fact_id == row.fact_id, ServiceFactRow.status == "approved")):
                    other.status = "superseded"
            row.status = "approved" if approve else "rejected"
            row.reviewer, row.reviewed_at, row.review_note = reviewer, _utcnow(), note.strip() or None
            return _record(row)

    def rollback(self, fact_id: str, version: int, author: str, today: dt.date | None = None) -> ServiceFact:
        """Propose ``version`` of ``fact_id`` again as a new draft (its page hash and quote are kept)."""
        with self._session() as s:
            old = s.scalar(select(ServiceFactRow).where(
                ServiceFactRow.fact_id == fact_id, ServiceFactRow.version == version))
            if old is None:
                raise ServiceFactError(["没有这个版本"])
            newest = s.scalar(select(func.max(ServiceFactRow.version)).where(ServiceFactRow.fact_id == fact_id))
            row = ServiceFactRow(**{
                c.name: getattr(old, c.name) for c in ServiceFactRow.__table__.columns
                if c.name not in ("id", "version", "status", "author", "created_at", "reviewer", "reviewed_at",
                                  "review_note")
            })
            row.version, row.status, row.author, row.created_at = newest + 1, "draft", author, _utcnow()
            s.add(row)
            s.flush()
            return _record(row)

    def versions(self, fact_id: str) -> list[ServiceFact]:
        with self._session() as s:
            rows = s.scalars(select(ServiceFactRow).where(ServiceFactRow.fact_id == fact_id)
                             .order_by(ServiceFactRow.version.desc()))
            return [_record(r) for r in rows]

    def latest(self) -> list[ServiceFact]:
        """The newest version of every fact, newest fact first."""
        with self._session() as s:
            rows = list(s.scalars(select(ServiceFactRow).order_by(ServiceFactRow.fact_id, ServiceFactRow.version)))
        newest: dict[str, ServiceFact] = {}
        for row in rows:
            newest[row.fact_id] = _record(row)
        return sorted(newest.values(), key=lambda f: f.fact_id, reverse=True)

    def live(self, today: dt.date | None = None) -> list[ServiceFact]:
        """Approved, unexpired versions (one per fact): the only ones the bot may say."""
        with self._session() as s:
            rows = s.scalars(select(ServiceFactRow).where(ServiceFactRow.status == "approved")
                             .order_by(ServiceFactRow.fact_id))
            return [f for f in (_record(r) for r in rows) if not f.expired(today)]


def live_facts_if_any(engine, today: dt.date | None = None) -> list[ServiceFact]:
    """:meth:`ServiceFactStore.live` without creating the table in a database that has none (read-only callers)."""
    if not inspect(engine).has_table(ServiceFactRow.__tablename__):
        return []
    return ServiceFactStore(lambda: engine).live(today)
