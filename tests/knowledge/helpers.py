"""Paths shared by the knowledge tests."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURE_CONTENT = DATA / "knowledge" / "content"
REPO_ROOT = Path(__file__).resolve().parents[2]
