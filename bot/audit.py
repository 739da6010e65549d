"""Dependency audit for ``make audit`` (and ``make test``): pip-audit over the pinned ``constraints.txt``.

Contract: ``python -m bot.audit --pip-audit PATH`` runs pip-audit (installed in its own tool venv,
because Rasa 3.6 pins ``packaging`` 20.9 and pip-audit needs a newer one) on every pin, without
resolving or installing anything, and with the vulnerability ids of ``deploy/audit-exceptions.txt``
ignored. Exit codes:

* 0 — no known vulnerability outside the exceptions; or the vulnerability service could not be
  reached and ``AUDIT_REQUIRED`` is not ``1`` (a loud warning says nothing was checked);
* 1 — a vulnerability that is not an accepted exception, or (``AUDIT_REQUIRED=1``) no answer from
  the vulnerability service: CI opts in where PyPI's JSON API is reachable;
* 2 — pip-audit itself failed.

why the opt-in: pip-audit reports "No known vulnerabilities found" when every lookup failed (it
marks each package "not found on PyPI"); that must never pass silently as a clean audit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = ROOT / "deploy" / "audit-exceptions.txt"
_EXCEPTION_LINE = re.compile(r"^(?P<id>[A-Z]+-[\w-]+)\s+(?P<package>[\w.\-]+)\s+(?P<why>.+)$")


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
    try:
        result = summarise(run_pip_audit(args.pip_audit, args.requirements, accepted), accepted)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    required = os.environ.get("AUDIT_REQUIRED") == "1"
    if result.unreachable:
        print(f"audit: WARNING — the vulnerability service answered for none of {result.skipped} pinned "
              "packages; NOTHING WAS CHECKED." + ("" if required else " (set AUDIT_REQUIRED=1 to fail here)"),
              file=sys.stderr)
        return 1 if required else 0
    for package, ids in sorted(result.vulnerable.items()):
        print(f"audit: {package}: {', '.join(ids)}")
    print(f"audit: {result.audited} packages checked, {result.skipped} skipped, "
          f"{len(result.vulnerable)} vulnerable, {len(accepted)} accepted exception(s)")
    return 1 if result.vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
