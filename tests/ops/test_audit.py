"""The dependency audit's verdicts (pip-audit's JSON report, exceptions), without the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import audit


def _dep(name: str, *vulns: tuple[str, tuple[str, ...]], skipped: bool = False) -> dict:
    if skipped:
        return {"name": name, "skip_reason": "Dependency not found on PyPI and could not be audited"}
    return {"name": name, "version": "1.0", "vulns": [{"id": i, "aliases": list(a)} for i, a in vulns]}


@pytest.mark.parametrize(
    "dependencies, audited, skipped, vulnerable, unreachable",
    [
        ([_dep("a"), _dep("b")], 2, 0, {}, False),
        ([_dep("a", ("PYSEC-1", ()))], 1, 0, {"a==1.0": ["PYSEC-1"]}, False),
        ([_dep("a", ("GHSA-x", ("PYSEC-2023-73",)))], 1, 0, {}, False),  # accepted through an alias
        ([_dep("a", ("PYSEC-2023-73", ()))], 1, 0, {}, False),
        ([_dep("a", skipped=True), _dep("b", skipped=True)], 0, 2, {}, True),
    ],
)
def test_summarise(dependencies, audited, skipped, vulnerable, unreachable):
    result = audit.summarise({"dependencies": dependencies}, {"PYSEC-2023-73": "redis: server bug"})
    assert (result.audited, result.skipped, result.vulnerable, result.unreachable) == (
        audited, skipped, vulnerable, unreachable)


def test_every_exception_names_its_package_and_reason():
    accepted = audit.load_exceptions()
    assert accepted and all(": " in why and len(why) > 40 for why in accepted.values())


def test_malformed_exception_line_is_refused(tmp_path: Path):
    path = tmp_path / "exceptions.txt"
    path.write_text("PYSEC-1\n", encoding="utf-8")
    with pytest.raises(ValueError):
        audit.load_exceptions(path)


@pytest.mark.parametrize("offline_ok, code", [("", 1), ("1", 0)])
def test_unreachable_service_fails_unless_offline_is_accepted(monkeypatch, offline_ok, code):
    monkeypatch.setenv("AUDIT_OFFLINE_OK", offline_ok)
    monkeypatch.setattr(audit, "run_pip_audit", lambda *a: {"dependencies": [_dep("a", skipped=True)]})
    assert audit.main([]) == code


def test_a_vulnerability_fails_the_audit(monkeypatch):
    monkeypatch.setattr(audit, "run_pip_audit", lambda *a: {"dependencies": [_dep("a", ("PYSEC-9", ()))]})
    assert audit.main([]) == 1


def test_the_snapshot_date_and_the_aiohttp_advisories_are_shown(monkeypatch, capsys):
    monkeypatch.setenv("AUDIT_OFFLINE_OK", "1")
    monkeypatch.setattr(audit, "run_pip_audit", lambda *a: {"dependencies": [_dep("a", skipped=True)]})
    audit.main([])
    out = capsys.readouterr().out
    assert "snapshot of 2024-10" in out
    for advisory in ("GHSA-6mq8-rvhq-8wgg", "GHSA-9548-qrrj-x5pj", "GHSA-8495-4g3g-x7pr"):
        assert advisory in out and "mitigation:" in out
    assert "MISSING" not in out


def test_a_mitigation_that_no_longer_holds_fails_the_audit(monkeypatch):
    monkeypatch.setenv("AIOHTTP_NO_EXTENSIONS", "1")  # the pure-Python parser: smuggling fixes missing
    monkeypatch.setattr(audit, "run_pip_audit", lambda *a: {"dependencies": [_dep("a")]})
    assert audit.main([]) == 1
