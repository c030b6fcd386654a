"""Playwright's sync API for the browser tests, or a loud skip of the module importing it.

Every browser test module imports Playwright from here, so the rule lives once: without the
package these tests skip and say why; under CI=true they fail.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import IN_CI

try:
    from playwright.sync_api import Locator, Page, Route, expect
except ImportError as exc:  # pragma: no cover - the test extra installs it
    if IN_CI:
        raise
    pytest.skip(
        f"SKIPPED LOUDLY: the playwright package is missing ({exc}); pip install -e '.[test]'",
        allow_module_level=True,
    )

__all__ = ["Locator", "Page", "Route", "expect"]
