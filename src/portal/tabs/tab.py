"""What a tab is; the registry in `portal.tabs` lists them, for the layout, routes and tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

# The blocks an htmx tab switch swaps: the page title, the tab bar (out of band) and the tab.
TAB_FRAGMENT = ["title", "tabs", "tab"]


@dataclass(frozen=True)
class Tab:
    """One tab of the signed-in shell: its page at `path`, shown as `label` in the tab bar."""

    name: str  # what a page passes as `active` to mark its tab current
    path: str
    label: str
    template: str
    endpoint: Callable[[Request], Awaitable[Response]]
