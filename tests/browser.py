"""One test's view of the session's shared Chromium (the ``browser`` fixture of tests/conftest.py).

``with browser_scope(browser) as browser:`` gives an object with ``new_context`` / ``new_page`` like a
Playwright ``Browser``; every context it opened is closed when the block ends (or on ``close()``), and
the shared browser itself stays open for the next test.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, List


class BrowserScope:
    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self._contexts: List[Any] = []

    def new_context(self, **options: Any) -> Any:
        context = self._browser.new_context(**options)
        self._contexts.append(context)
        return context

    def new_page(self, **options: Any) -> Any:
        return self.new_context(**options).new_page()

    def close(self) -> None:
        """Close this test's contexts (not the shared browser)."""
        while self._contexts:
            context = self._contexts.pop()
            try:
                context.close()
            except Exception:  # noqa: BLE001 - already closed with its page, or the browser went away
                pass


@contextmanager
def browser_scope(browser: Any) -> Iterator[BrowserScope]:
    scope = BrowserScope(browser)
    try:
        yield scope
    finally:
        scope.close()
