"""Dependency audit for ``make audit`` (and ``make test``): pip-audit over the pinned ``constraints.txt``.

Contract: ``python -m ops.audit --pip-audit PATH`` runs pip-audit (installed in its own tool venv,
because Rasa 3.6 pins ``packaging`` 20.9 and pip-audit needs a newer one) on every pin, without
resolving or installing anything, and with the vulnerability ids of ``deploy/audit-exceptions.txt``
ignored. Exit codes:

* 0 — no known vulnerability outside the exceptions; or the vulnerability service could not be
  reached and ``AUDIT_OFFLINE_OK=1`` says that is acceptable here (a loud warning says nothing was
  checked beyond the offline snapshot);
* 1 — a vulnerability that is not an accepted exception, no answer from the vulnerability service
  (unless ``AUDIT_OFFLINE_OK=1``), or a mitigation of :data:`KNOWN_ADVISORIES` that no longer holds;
* 2 — pip-audit itself failed.

Every run prints the date of the offline advisory snapshot (``# snapshot: YYYY-MM`` in
``deploy/audit-exceptions.txt``) and :data:`KNOWN_ADVISORIES`: advisories published after that
snapshot that apply to a pin we cannot move (aiohttp 3.9.5, pinned by Rasa 3.6), each with its
mitigation and a check that the mitigation is in place.

why not exit 0 offline by default: pip-audit reports "No known vulnerabilities found" when every lookup failed (it
marks each package "not found on PyPI"); that must never pass silently as a clean audit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from ops.settings import setting

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = ROOT / "deploy" / "audit-exceptions.txt"
_EXCEPTION_LINE = re.compile(r"^(?P<id>[A-Z]+-[\w-]+)\s+(?P<package>[\w.\-]+)\s+(?P<why>.+)$")


_SNAPSHOT = re.compile(r"^#\s*snapshot:\s*(\S+)", re.MULTILINE)


def snapshot_date(path: Path = EXCEPTIONS) -> str:
    """The date of the offline advisory snapshot the exceptions were reviewed against ('unknown' if unsaid)."""
    match = _SNAPSHOT.search(path.read_text(encoding="utf-8"))
    return match.group(1) if match else "unknown"


def _c_parser() -> bool:
    """The llhttp C parser serves requests (the pure-Python parser has the smuggling bugs)."""
    if setting("AIOHTTP_NO_EXTENSIONS"):
        return False
    from aiohttp import http_parser

    return http_parser.HttpRequestParser is not getattr(http_parser, "HttpRequestParserPy", None)


def _no_inflation() -> bool:
    """Our aiohttp apps do not inflate request bodies and nginx refuses compressed ones."""
    from widget.http_limits import HANDLER_ARGS

    template = (ROOT / "deploy" / "nginx.conf.template").read_text(encoding="utf-8")
    return HANDLER_ARGS.get("auto_decompress") is False and "$http_content_encoding" in template


@dataclass(frozen=True)
class Advisory:
    id: str
    package: str
    fixed_in: str
    summary: str
    mitigation: str
    check: object  # () -> bool


KNOWN_ADVISORIES = (
    Advisory("GHSA-6mq8-rvhq-8wgg", "aiohttp==3.9.5", "3.13.3",
             "CVE-2025-69223: auto_decompress inflates request bodies without a bound (zip bomb)",
             "widget/http_limits.py: auto_decompress off and 415 for any Content-Encoding in widget.app and the "
             "console; nginx answers 415 to compressed bodies", _no_inflation),
    Advisory("GHSA-9548-qrrj-x5pj", "aiohttp==3.9.5", "3.12.14",
             "request smuggling: the pure-Python parser does not parse trailer sections",
             "the C (llhttp) parser is in use (AIOHTTP_NO_EXTENSIONS unset); nginx in front", _c_parser),
    Advisory("GHSA-8495-4g3g-x7pr", "aiohttp==3.9.5", "3.10.11",
             "CVE-2024-52304: request smuggling: the pure-Python parser accepts LF in chunk extensions",
             "the C (llhttp) parser is in use (AIOHTTP_NO_EXTENSIONS unset); nginx in front", _c_parser),
)


def report_known_advisories() -> bool:
    """Print each known advisory with its mitigation; False when a mitigation does not hold."""
    held = True
    for advisory in KNOWN_ADVISORIES:
        try:
            ok = bool(advisory.check())
        except Exception:  # noqa: BLE001 - a check that cannot run is a mitigation we cannot vouch for
            ok = False
        held = held and ok
        print(f"audit: {advisory.id} {advisory.package} (fixed in {advisory.fixed_in}): {advisory.summary}; "
              f"mitigation: {advisory.mitigation} [{'in place' if ok else 'MISSING'}]")
    return held


@dataclass(frozen=True)
class AuditResult:
    """What pip-audit said, after the accepted exceptions."""

    audited: int
    skipped: int
    vulnerable: Dict[str, List[str]]  # "name==version" -> vulnerability ids

    @property
    def unreachable(self) -> bool:
        return self.audited == 0 and self.skipped > 0


def load_exceptions(path: Path = EXCEPTIONS) -> Dict[str, str]:
    """``{vulnerability id: justification}``; every entry must name its package and say why."""
    accepted = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _EXCEPTION_LINE.match(line)
        if not match:
            raise ValueError(f"{path.name}:{number}: expected 'ID package justification'")
        accepted[match.group("id")] = f"{match.group('package')}: {match.group('why')}"
    return accepted


def summarise(report: dict, accepted: Dict[str, str]) -> AuditResult:
    """Count audited and skipped packages and collect the vulnerabilities not accepted."""
    audited = skipped = 0
    vulnerable: Dict[str, List[str]] = {}
    for dependency in report.get("dependencies", []):
        if dependency.get("skip_reason"):
            skipped += 1
            continue
        audited += 1
        ids = [v["id"] for v in dependency.get("vulns", []) if v["id"] not in accepted
               and not set(v.get("aliases") or ()) & set(accepted)]
        if ids:
            vulnerable[f"{dependency['name']}=={dependency.get('version')}"] = ids
    return AuditResult(audited, skipped, vulnerable)


def run_pip_audit(pip_audit: str, requirements: Path, accepted: Dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        argv = [pip_audit, "-r", str(requirements), "--no-deps", "--disable-pip", "--progress-spinner", "off",
                "-f", "json", "-o", str(out)]
        for vuln_id in accepted:
            argv += ["--ignore-vuln", vuln_id]
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        # why: pip-audit exits 1 when it finds vulnerabilities; the JSON is still written.
        if not out.exists():
            sys.stderr.write(completed.stderr[-2000:])
            raise RuntimeError(f"pip-audit failed with exit code {completed.returncode}")
        return json.loads(out.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-audit", default="pip-audit", help="the pip-audit executable")
    parser.add_argument("--requirements", type=Path, default=ROOT / "constraints.txt")
    args = parser.parse_args(argv)
    accepted = load_exceptions()
    print(f"audit: accepted exceptions reviewed against the offline advisory snapshot of {snapshot_date()}; "
          "advisories published later are covered only by the vulnerability service")
    mitigated = report_known_advisories()
    try:
        result = summarise(run_pip_audit(args.pip_audit, args.requirements, accepted), accepted)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    offline_ok = setting("AUDIT_OFFLINE_OK") == "1"
    if result.unreachable:
        print(f"audit: WARNING — the vulnerability service answered for none of {result.skipped} pinned "
              f"packages; NOTHING WAS CHECKED beyond the {snapshot_date()} snapshot."
              + (" (AUDIT_OFFLINE_OK=1: not failing)" if offline_ok else " (set AUDIT_OFFLINE_OK=1 to accept)"),
              file=sys.stderr)
        return 0 if offline_ok and mitigated else 1
    for package, ids in sorted(result.vulnerable.items()):
        print(f"audit: {package}: {', '.join(ids)}")
    print(f"audit: {result.audited} packages checked, {result.skipped} skipped, "
          f"{len(result.vulnerable)} vulnerable, {len(accepted)} accepted exception(s)")
    return 1 if result.vulnerable or not mitigated else 0


if __name__ == "__main__":
    sys.exit(main())
