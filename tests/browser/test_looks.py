"""Words and looks in a real Chromium: buttons and headings named as the user documentation
names them, in one capitalisation (Title Case), and the layout details a new user notices."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from portal.dev import patterns
from tests.browser.conftest import Pages, Server
from tests.browser.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gallery(start_server: Callable[..., Server]) -> Iterator[Server]:
    server = start_server(extra_env={"PORTAL_RELOAD_TEMPLATES": "true"})
    yield server
    server.stop()


# --- names: Title Case, as the documentation writes "Sign In" and "Send Reset Link" ---------

# Words that stay lower case inside a title (never first or last): articles, short
# conjunctions and prepositions. "Sign In" and "Hang Up" end in theirs, so those are capitals.
SMALL_WORDS = {"a", "an", "the", "and", "but", "or", "nor", "for", "at", "by", "in", "of", "on"}
SMALL_WORDS |= {"to", "with", "as"}


def title_case_problem(text: str) -> str | None:
    """Why `text` is not Title Case, or None when it is."""
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    for index, word in enumerate(words):
        letters = word.strip("?!.,:;()\"'…")
        if not letters or not letters[0].isalpha():
            continue  # a number, a key of the dial pad
        inner = 0 < index < len(words) - 1 and not words[index - 1].endswith(":")
        if inner and letters.lower() in SMALL_WORDS:
            if letters != letters.lower():
                return f"{word!r} is a small word: lower case inside a title"
        elif not letters[0].isupper():
            return f"{word!r} should start with a capital"
    return None


# Every heading and button of a state, shown or not (a state hides what it does not need):
# its own words, its accessible name, and the words a sighted user sees on it.
NAMES = """() => [...document.querySelectorAll(
    "h1, h2, h3, h4, button, a.button, [role=button]")].map(el => {
  const own = el.cloneNode(true);
  own.querySelectorAll("[aria-hidden=true]").forEach(n => n.remove());
  return {
    what: el.outerHTML.slice(0, 100),
    words: own.textContent.replace(/\\s+/g, " ").trim(),
    label: el.getAttribute("aria-label"),
    shown: el.textContent.replace(/\\s+/g, " ").trim(),
  };
})"""
# The states of the pages users see (the demo's mail page and the emails are not the portal's).
PAGE_STATES = [
    p.name
    for p in patterns.REGISTRY
    if p.template in {"login.html", "forgot.html", "reset.html", "error.html"}
    or p.template in {"phone.html", "settings.html"}
]


def test_every_button_and_heading_is_title_case(pages: Pages, gallery: Server) -> None:
    page = pages.new_page(server=gallery)
    problems: list[str] = []
    seen: set[str] = set()
    for name in PAGE_STATES:
        page.goto(f"/-/patterns/{name}")
        for item in page.evaluate(NAMES):
            for text in filter(None, [item["words"], item["label"]]):
                if text in seen:
                    continue
                seen.add(text)
                if why := title_case_problem(text):
                    problems.append(f"{name}: {text!r}: {why} ({item['what']})")
            # A name that differs from the visible words only in case is still two names.
            if item["label"] and item["shown"] and item["shown"] not in item["label"]:
                problems.append(f"{name}: shown {item['shown']!r}, named {item['label']!r}")
    assert not problems, "\n".join(problems)
    # The documentation's words, exactly.
    for name in ["Sign In", "Send Reset Link", "Change Password", "Sign Out", "Hang Up"]:
        assert name in seen, f"no button or heading says {name!r}"


def test_the_login_page_says_what_the_documentation_says(page: Page) -> None:
    page.goto("/login")
    assert page.get_by_role("button", name="Sign In", exact=True).count() == 1
    assert page.get_by_role("link", name="Forgot password?", exact=True).count() == 1
    assert page.get_by_role("heading", name="Sign In", exact=True).count() == 1
