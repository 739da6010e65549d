"""Command line of the knowledge base: ``python -m knowledge <command>``.

Commands (exit status 0 on success, 1 on problems):
  build [--force]      verify the content and (re)build the database; skipped when up to date
  check                verify everything without writing (lists every problem)
  search QUERY [--region R] [--topic T] [--limit N] [--json]
  userdict [--check]   write data/dict/userdict.txt and data/topics/topics.json (``--check``: fail if stale)
  fetch [--online] [--doc ID]   refresh sources that have a fetch_url (offline: report only)
  stats                counts, build hash and time, facts per region / period / status
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from dataclasses import asdict

from knowledge.settings import Settings, get_settings

log = logging.getLogger("knowledge")


def _print_problems(problems: list[str]) -> None:
    print(f"{len(problems)} problem(s):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)


def cmd_build(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.build import BuildError, build

    try:
        result = build(settings, force=args.force)
    except BuildError as exc:
        _print_problems(exc.problems)
        print("build FAILED; the database was not changed", file=sys.stderr)
        return 1
    c = result.counts
    state = "up to date (skipped; use --force to rebuild)" if result.skipped else "built"
    print(
        f"knowledge base {state}: documents={c.get('documents', 0)} sections={c.get('sections', 0)} "
        f"passages={c.get('passages', 0)} facts={c.get('facts', 0)} topics={c.get('topics', 0)} "
        f"channels={c.get('channels', 0)} time={result.duration_s:.2f}s hash={result.content_hash[:12]}"
    )
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.build import compile_kb

    kb = compile_kb(settings.content_dir)
    if kb.problems:
        _print_problems(kb.problems)
        return 1
    tables = sum(1 for f in kb.facts if f.origin == "table")
    print(
        f"OK: {len(kb.docs)} documents, {sum(len(d.passages) for d in kb.docs.values())} passages, "
        f"{len(kb.facts)} facts ({tables} from indicator tables), {len(kb.content.topics)} topics, "
        f"{len(kb.content.channels)} channels"
    )
    return 0


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.service import KnowledgeBaseNotBuilt, KnowledgeService

    svc = KnowledgeService(settings.database_url, settings.userdict_path)
    try:
        hits = svc.search(args.query, region=args.region, topic=args.topic, limit=args.limit)
    except KnowledgeBaseNotBuilt as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.json:
        out = []
        for h in hits:
            item = asdict(h)
            item["source"]["citation"] = h.source.citation
            out.append(item)
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no results")
        return 0
    for n, h in enumerate(hits, 1):
        quote = h.source.quote if len(h.source.quote) <= 120 else h.source.quote[:119] + "…"
        print(
            f"{n}. [{h.kind}] {h.text if h.kind == 'fact' else ''}".rstrip()
            + f"  (score {h.score:.2f}, {h.region})"
        )
        print(f"   「{quote}」")
        print(f"   来源：{h.source.citation}")
    return 0


def cmd_userdict(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.content import load_content
    from knowledge.userdict import is_stale, render, render_topic_documents, write

    content = load_content(settings.content_dir)
    text = render(content)
    path = settings.userdict_path
    # why: the NLU's topic featurizer (bot.nlu.topic_features) reads the topic texts from data/topics/; not
    # from data/dict/, whose every file the JiebaTokenizer loads as a dictionary.
    topics_path = path.parent.parent / "topics" / "topics.json"
    topics_text = render_topic_documents(content)
    if args.check:
        stale = [p for p, t in ((path, text), (topics_path, topics_text)) if is_stale(p, t)]
        for p in stale:
            print(f"{p} is stale: run `python -m knowledge userdict` (and retrain the NLU)", file=sys.stderr)
        if stale:
            return 1
        print(f"{path} is up to date ({text.count(chr(10))} words); {topics_path.name} too")
        return 0
    changed = write(path, text)
    print(f"{path}: {text.count(chr(10))} words ({'written' if changed else 'unchanged'})")
    changed = write(topics_path, topics_text)
    print(f"{topics_path}: {topics_text.count(chr(10))} lines ({'written' if changed else 'unchanged'})")
    return 0


def cmd_fetch(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.content import load_manifest
    from knowledge.fetch import SourceFetcher

    problems: list[str] = []
    entries = load_manifest(settings.manifest_path, problems)
    if args.doc:
        entries = [e for e in entries if e.doc_id in args.doc]
    results = SourceFetcher(settings.sources_dir).run(entries, online=args.online)
    for r in results:
        print(f"{r.doc_id}: {r.action}: {r.detail}" + (f" ({r.url})" if r.url else ""))
    if not args.online:
        print("offline: nothing was downloaded (use --online)")
    return 1 if any(r.action == "failed" for r in results) else 0


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from knowledge import models as m
    from knowledge.build import counts, latest_build
    from knowledge.db import get_engine, session_scope

    engine = get_engine(settings.database_url)
    info = latest_build(engine)
    if info is None:
        print("the knowledge base is not built: run `python -m knowledge build`", file=sys.stderr)
        return 1
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print(
        f"built at {info.built_at:%Y-%m-%d %H:%M:%S} in {info.duration_s:.2f}s, hash {info.content_hash[:12]}"
    )
    for name, value in counts(engine).items():
        print(f"  {name:<10} {value}")
    with session_scope(engine) as session:
        rows = session.execute(select(m.Fact.region, m.Fact.period, m.Fact.status, m.Fact.origin)).all()
        groups = session.execute(
            select(m.Fact.conflict_group).where(m.Fact.conflict_group.is_not(None))
        ).scalars()
        n_groups = len(set(groups))
    for label, index in (("region", 0), ("period", 1), ("status", 2), ("origin", 3)):
        c = Counter(r[index] for r in rows)
        print(f"facts by {label}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items())))
    print(f"conflict groups: {n_groups}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m knowledge", description="Build and query the 人社 knowledge base."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="verify and build the database (skipped when up to date)")
    b.add_argument("--force", action="store_true", help="rebuild even when the content hash is unchanged")
    sub.add_parser("check", help="verify the content without writing")
    s = sub.add_parser("search", help="BM25 search with citations")
    s.add_argument("query")
    s.add_argument("--region")
    s.add_argument("--topic")
    s.add_argument("--limit", type=int, default=5)
    s.add_argument("--json", action="store_true")
    u = sub.add_parser("userdict", help="write the jieba user dictionary")
    u.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    f = sub.add_parser("fetch", help="refresh sources from their fetch_url")
    f.add_argument("--online", action="store_true", help="really download (default: report only)")
    f.add_argument("--doc", action="append", help="only this doc_id (repeatable)")
    sub.add_parser("stats", help="database statistics")
    return p


COMMANDS = {
    "build": cmd_build,
    "check": cmd_check,
    "search": cmd_search,
    "userdict": cmd_userdict,
    "fetch": cmd_fetch,
    "stats": cmd_stats,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return COMMANDS[args.command](get_settings(), args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # why: `python -m knowledge search … | head` is normal use
        sys.stderr.close()
        sys.exit(0)
