"""SQLAlchemy 1.4 declarative models of the knowledge base (queried 2.0-style with ``select()``).

These are internal: code outside ``knowledge`` uses :mod:`knowledge.service`, which returns
frozen dataclasses. Every table is prefixed ``kb_`` so the KB can share a PostgreSQL database
with the Rasa tracker store without name clashes. The whole schema is rebuilt by
``python -m knowledge build`` (no migrations: the KB is derived data).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Document(Base):
    """One source document (a seed file listed in ``sources/manifest.yml``)."""

    __tablename__ = "kb_document"

    id = Column(String(16), primary_key=True)  # doc_id, e.g. "003"
    file = Column(String(255), nullable=False)
    title = Column(Text, nullable=False)
    publisher = Column(Text, nullable=False, default="")
    kind = Column(String(32), nullable=False)
    region = Column(String(16), nullable=False)
    published = Column(Date, nullable=True)
    date_label = Column(String(64), nullable=False, default="")
    url = Column(Text, nullable=False, default="")
    format = Column(String(8), nullable=False)
    sha256 = Column(String(64), nullable=False)
    clean_text = Column(Text, nullable=False)

    sections = relationship("Section", back_populates="document", cascade="all, delete-orphan")


class Section(Base):
    """A heading of a document (chapter, section, 专栏, numbered item, HTML heading)."""

    __tablename__ = "kb_section"

    id = Column(Integer, primary_key=True)
    doc_id = Column(String(16), ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False, index=True)
    parent_id = Column(Integer, ForeignKey("kb_section.id", ondelete="CASCADE"), nullable=True)
    ordinal = Column(Integer, nullable=False)
    level = Column(Integer, nullable=False)
    kind = Column(String(16), nullable=False)
    heading = Column(Text, nullable=False)
    path = Column(Text, nullable=False)  # "第一章 … > 第一节 … > 专栏1 …"

    document = relationship("Document", back_populates="sections")


class Passage(Base):
    """A searchable chunk of a document: a paragraph or a group of its sentences."""

    __tablename__ = "kb_passage"

    id = Column(Integer, primary_key=True)
    doc_id = Column(String(16), ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False, index=True)
    section_id = Column(Integer, ForeignKey("kb_section.id", ondelete="CASCADE"), nullable=True)
    ordinal = Column(Integer, nullable=False)
    text = Column(Text, nullable=False)
    heading = Column(Text, nullable=False, default="")  # innermost heading, indexed with the text
    path = Column(Text, nullable=False, default="")


class PassageTopic(Base):
    """Topics a passage belongs to (derived: it contains a quote of the topic's facts or summary)."""

    __tablename__ = "kb_passage_topic"

    passage_id = Column(Integer, ForeignKey("kb_passage.id", ondelete="CASCADE"), primary_key=True)
    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)


class Statement(Base):
    """One sentence or clause of a document, verbatim: what the plans *say* (figures are facts).

    Derived at build time from the passages (:func:`knowledge.ingest.split_statements`); ``region`` is the
    document's, ``period`` is set only where the sentence itself states one (``target_2025``, ``result_2024``,
    ``result_13th``), and ``topics`` are the topic cards whose aliases or passages it belongs to.
    """

    __tablename__ = "kb_statement"

    id = Column(Integer, primary_key=True)
    doc_id = Column(String(16), ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False, index=True)
    passage_id = Column(Integer, ForeignKey("kb_passage.id", ondelete="CASCADE"), nullable=False)
    ordinal = Column(Integer, nullable=False)
    text = Column(Text, nullable=False)
    path = Column(Text, nullable=False, default="")
    region = Column(String(16), nullable=False)
    period = Column(String(32), nullable=False, default="")
    topics = Column(Text, nullable=False, default="")  # space-separated topic ids


class Fact(Base):
    """A verified figure or datum with its verbatim quote."""

    __tablename__ = "kb_fact"

    id = Column(String(64), primary_key=True)
    ordinal = Column(Integer, nullable=False)
    metric = Column(Text, nullable=False)
    metric_key = Column(String(128), nullable=False, index=True)
    region = Column(String(16), nullable=False, index=True)
    period = Column(String(32), nullable=False)
    period_label = Column(Text, nullable=False, default="")
    value = Column(Text, nullable=False)
    unit = Column(String(64), nullable=False, default="")
    qualifier = Column(String(16), nullable=False, default="")
    nature = Column(String(16), nullable=False, default="")
    doc_id = Column(String(16), ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False)
    section = Column(Text, nullable=False, default="")
    quote = Column(Text, nullable=False)
    display = Column(Text, nullable=False)
    status = Column(String(16), nullable=False)
    conflict_group = Column(String(64), nullable=True, index=True)
    note = Column(Text, nullable=False, default="")
    origin = Column(String(16), nullable=False)  # "curated" (facts/*.yml) or "table" (专栏1/专栏2)
    cumulative = Column(Boolean, nullable=False, default=False)  # "[x]" five-year total in a table


class FactTopic(Base):
    __tablename__ = "kb_fact_topic"

    fact_id = Column(String(64), ForeignKey("kb_fact.id", ondelete="CASCADE"), primary_key=True)
    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    position = Column(Integer, nullable=False)


class FactCatalogue(Base):
    __tablename__ = "kb_fact_catalogue"

    fact_id = Column(String(64), ForeignKey("kb_fact.id", ondelete="CASCADE"), primary_key=True)
    catalogue_id = Column(String(32), primary_key=True)


class Topic(Base):
    """A topic card (one YAML file under ``topics/``)."""

    __tablename__ = "kb_topic"

    id = Column(String(64), primary_key=True)
    ordinal = Column(Integer, nullable=False)
    name = Column(Text, nullable=False)


class TopicIntent(Base):
    __tablename__ = "kb_topic_intent"
    __table_args__ = (UniqueConstraint("intent", name="uq_kb_topic_intent_intent"),)

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    intent = Column(String(128), primary_key=True)
    position = Column(Integer, nullable=False)


class TopicAlias(Base):
    __tablename__ = "kb_topic_alias"

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    alias = Column(String(255), primary_key=True)
    position = Column(Integer, nullable=False)


class TopicGap(Base):
    __tablename__ = "kb_topic_gap"

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    position = Column(Integer, primary_key=True)
    text = Column(Text, nullable=False)


class TopicSummary(Base):
    __tablename__ = "kb_topic_summary"

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    position = Column(Integer, primary_key=True)
    text = Column(Text, nullable=False)
    doc_id = Column(String(16), ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False)
    quote = Column(Text, nullable=False)
    section = Column(Text, nullable=False, default="")


class TopicFact(Base):
    __tablename__ = "kb_topic_fact"

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    fact_id = Column(String(64), ForeignKey("kb_fact.id", ondelete="CASCADE"), primary_key=True)
    position = Column(Integer, nullable=False)


class TopicChannel(Base):
    __tablename__ = "kb_topic_channel"

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    channel_id = Column(String(64), ForeignKey("kb_channel.id", ondelete="CASCADE"), primary_key=True)
    position = Column(Integer, nullable=False)


class TopicRelated(Base):
    __tablename__ = "kb_topic_related"

    topic_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    related_id = Column(String(64), ForeignKey("kb_topic.id", ondelete="CASCADE"), primary_key=True)
    position = Column(Integer, nullable=False)


class Channel(Base):
    """An official channel named by the sources themselves (with its quote)."""

    __tablename__ = "kb_channel"

    id = Column(String(64), primary_key=True)
    ordinal = Column(Integer, nullable=False)
    name = Column(Text, nullable=False)
    doc_id = Column(String(16), ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False)
    quote = Column(Text, nullable=False)
    section = Column(Text, nullable=False, default="")


class BuildInfo(Base):
    """The last successful build: its content hash decides whether the next build can be skipped."""

    __tablename__ = "kb_build_info"

    id = Column(Integer, primary_key=True, autoincrement=True)
    content_hash = Column(String(64), nullable=False)
    built_at = Column(DateTime(timezone=True), nullable=False)
    duration_s = Column(Float, nullable=False)
    counts = Column(Text, nullable=False)  # JSON object of table counts
